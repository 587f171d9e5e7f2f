"""Information estimates of views and encoders (``mvssl info NAME``)."""
