"""The concept encyclopedia: concept sources, contexts, the HDF5 stage schema, pooling, the
interpreter network, metrics, baselines, selection of uncertain concepts and convergence."""

from difflens.encyclopedia.concepts import Concept, load_concepts
from difflens.encyclopedia.interpreter import InterpreterNetwork, confidence
from difflens.encyclopedia.store import EncyclopediaStage, StageHeader, site_name, write_stage
from difflens.encyclopedia.templates import ConceptContext

__all__ = ["Concept", "ConceptContext", "EncyclopediaStage", "InterpreterNetwork", "StageHeader",
           "confidence", "load_concepts", "site_name", "write_stage"]
