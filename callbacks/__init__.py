"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.decoded_text_writer import DecodedTextWriter
from callbacks.intervention import GroundTruthShiftCallback, SaveMergedModel
from callbacks.recovery import GroundTruthRecoveryCallback
from callbacks.saffron import SaffronCallback
from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback

__all__ = [
    "DecodedTextWriter", "GroundTruthShiftCallback", "SaveMergedModel",
    "GroundTruthRecoveryCallback", "SaffronCallback", "SavePretrained", "TextSampleCallback",
]
