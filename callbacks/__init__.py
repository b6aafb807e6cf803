"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.intervention import GroundTruthShiftCallback, SaveMergedModel
from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback
from callbacks.decoded_text_writer import DecodedTextWriter

__all__ = ["SavePretrained", "TextSampleCallback", "SaveMergedModel", "GroundTruthShiftCallback"]
__all__ = ["SavePretrained", "TextSampleCallback", "DecodedTextWriter"]
from callbacks.saffron import SaffronCallback
from callbacks.recovery import GroundTruthRecoveryCallback

__all__ = ["SavePretrained", "TextSampleCallback", "SaffronCallback", "GroundTruthRecoveryCallback"]
