"""Load stage: pixels for one stack, with exact geometry (CT) or spacing (radiographs).

Discovery decided what each stack is; loading reads its pixels only now, so a folder of
thousands of studies costs one header read per file until a stack is actually analysed.
"""

from __future__ import annotations

from pipeline.config import Config, LoaderConfig
from pipeline.errors import LoadError
from pipeline.load.ct import load_ct
from pipeline.load.radiograph import load_radiograph
from pipeline.models import CTVolume, Radiograph, Stack

__all__ = ["load_ct", "load_radiograph", "load_stack"]


def load_stack(stack: Stack, config: Config | LoaderConfig | None = None) -> CTVolume | Radiograph:
    """Pixels of a CT stack (any stack with a geometry plan) or of a radiograph."""
    cfg = config.loader if isinstance(config, Config) else (config or LoaderConfig())
    if stack.plan is not None:
        return load_ct(stack, cfg)
    if stack.kind == "radiograph":
        return load_radiograph(stack)
    raise LoadError(f"{stack.label} is not loadable as an image: {stack.reason}")
