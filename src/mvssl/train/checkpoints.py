"""Lightning's checkpoint IO made safe: written atomically, loaded with ``weights_only``
(finding the checkpoint to resume from is ``checkpoint_io.latest_complete_checkpoint``)."""
from __future__ import annotations

from typing import Any

from lightning.fabric.plugins import TorchCheckpointIO

from ..checkpoint_io import safe_torch_load, save_atomic


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with two guarantees: a checkpoint is written to a
    temporary file beside the target, synced and renamed (Lightning's own version stages
    it in the system temp folder, which is a copy, not a rename, across file systems),
    and loading always uses ``weights_only=True``, whatever Lightning asks for."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO takes no storage_options")
        save_atomic(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return safe_torch_load(path)
