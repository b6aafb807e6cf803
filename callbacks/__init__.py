"""Lightning callbacks; importing this package registers them for short names in YAML."""

from callbacks.save_pretrained import SavePretrained
from callbacks.text_samples import TextSampleCallback
from callbacks.activation_samples import ActivationSampleCallback

__all__ = ["SavePretrained", "TextSampleCallback", "ActivationSampleCallback"]
