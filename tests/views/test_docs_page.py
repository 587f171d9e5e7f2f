"""The code on docs/views.md runs as written and its assertions hold."""
import re
from pathlib import Path

import torch

PAGE = Path(__file__).resolve().parents[2] / "docs" / "views.md"


def test_views_page_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    torch.manual_seed(0)
    for block in blocks:  # one session, as a reader would paste them in order
        exec(compile(block, str(PAGE), "exec"), namespace)
