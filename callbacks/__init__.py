"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback
from callbacks.intervention import GroundTruthShiftCallback, SaveMergedModel

__all__ = ["SavePretrained", "TextSampleCallback", "SaveMergedModel", "GroundTruthShiftCallback"]
from callbacks.decoded_text_writer import DecodedTextWriter

__all__ = ["SavePretrained", "TextSampleCallback", "DecodedTextWriter"]
from callbacks.saffron import SaffronCallback
from callbacks.recovery import GroundTruthRecoveryCallback

__all__ = ["SavePretrained", "TextSampleCallback", "SaffronCallback", "GroundTruthRecoveryCallback"]
from callbacks.encyclopedia_writer import EncyclopediaStageWriter

__all__ = ["SavePretrained", "TextSampleCallback", "EncyclopediaStageWriter"]
