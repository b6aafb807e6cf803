"""Sparse dictionaries: SAEs and transcoders, one file per architecture, one registry.

``build_sae(SAEConfig(architecture="batchtopk", d_in=192, d_sae=1536, k=16))`` makes one;
``sae.save(dir)`` writes ``cfg.json`` + ``sae_weights.safetensors`` (SAELens's layout) and
``load_sae(dir)`` reads it back. A config file's ``model.sae`` block is an `SAESpec`, the
same settings before the widths are known: ``SAESpec(architecture="batchtopk",
expansion_factor=8, k=16).to_config(d_in=192)`` gives the `SAEConfig`.
"""

from difflens.sae.base import SparseDictionary, TrainOutput, geometric_median
from difflens.sae.batchtopk import BatchTopKSAE, batch_topk
from difflens.sae.config import SAEConfig, SAESpec
from difflens.sae.jumprelu import JumpReLUSAE
from difflens.sae.matryoshka import MatryoshkaBatchTopKSAE
from difflens.sae.registry import SAE_REGISTRY, build_sae, load_sae, register, sae_class
from difflens.sae.relu_l1 import ReLUSAE
from difflens.sae.sparse import SparseCodes, sparse_decode
from difflens.sae.topk import TopKSAE

__all__ = [
    "SAE_REGISTRY", "BatchTopKSAE", "JumpReLUSAE", "MatryoshkaBatchTopKSAE", "ReLUSAE", "SAEConfig", "SAESpec",
    "SparseCodes", "SparseDictionary", "TopKSAE", "TrainOutput", "batch_topk", "build_sae",
    "geometric_median", "load_sae", "register", "sae_class", "sparse_decode",
]
