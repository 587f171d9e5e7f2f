"""Information estimates of trained runs: ``mvssl info NAME`` commands."""
