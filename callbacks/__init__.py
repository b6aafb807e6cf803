"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.activation_samples import ActivationSampleCallback
from callbacks.decoded_text_writer import DecodedTextWriter
from callbacks.encyclopedia_writer import EncyclopediaStageWriter
from callbacks.intervention import GroundTruthShiftCallback, SaveMergedModel
from callbacks.recovery import GroundTruthRecoveryCallback
from callbacks.saffron import SaffronCallback
from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback

__all__ = [
    "ActivationSampleCallback", "DecodedTextWriter", "EncyclopediaStageWriter",
    "GroundTruthRecoveryCallback", "GroundTruthShiftCallback", "SaffronCallback", "SaveMergedModel",
    "SavePretrained", "TextSampleCallback",
]
