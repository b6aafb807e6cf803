"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback
from callbacks.encyclopedia_writer import EncyclopediaStageWriter

__all__ = ["SavePretrained", "TextSampleCallback", "EncyclopediaStageWriter"]
