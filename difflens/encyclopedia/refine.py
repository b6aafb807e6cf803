"""The concept encyclopedia's refinement loop and its configuration.

Stage N capture -> interpreter training -> selection of the concepts the interpreter is least
sure of (and, for stage 3, the pairs it confuses) -> stage N+1, up to ``final_stage``.
Evaluation captures (held-out templates, descriptions) and a probe capture for the selection are
written once. Every capture is a file that is skipped when it exists, so an interrupted run
resumes; interpreters are retrained (seconds) on each run. Outputs under ``run_dir``:
``stage{N}.h5``, ``heldout.h5``, ``described.h5``, ``probe.h5``, ``stage{N}_concepts.json``,
``interpreter_stage{N}.ckpt``, ``convergence.json``, ``report.md`` and ``report.json``;
TensorBoard logs under ``run_dir/tb``.

Unlike the rest of ``difflens/``, the loop drives Lightning trainers (the `ConceptCapture`
predict loop with the `EncyclopediaStageWriter`, the `ConceptInterpreter` fit and test): those
imports are local to the methods that use them, so importing this module loads none of them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from difflens.encyclopedia.convergence import measure_convergence
from difflens.encyclopedia.report import write_refinement_report

log = logging.getLogger(__name__)

# The contexts each refinement stage captures for its selected concepts.
STAGE_CONTEXTS = {1: "templates", 2: "assistant", 3: "contrastive"}
# Numbers of contexts at which stage 1's per-concept means are compared with the held-out ones.
CONVERGENCE_NS = (1, 2, 3, 5, 8, 10)


@dataclass
class CaptureConfig:
    """How activations are captured.

    Attributes:
        layers: residual stream after these blocks (0 = first, -1 = last, before the final norm).
        poolings: ``span_mean``, ``span_last``, ``context_mean``.
        batch_size: contexts per forward pass.
        max_length: tokens per context.
        dtype: model dtype (``bfloat16`` on a GPU).
        devices: processes for capture (DDP when > 1).
        accelerator: ``cpu`` or ``gpu`` for capture.
        strategy: Lightning strategy; null: ``ddp_fork`` on CPU and ``ddp`` on GPUs when
            ``devices`` > 1 (CUDA cannot be forked once initialised).
    """

    layers: list[int] = field(default_factory=lambda: [-1])
    poolings: list[str] = field(default_factory=lambda: ["span_mean", "context_mean"])
    batch_size: int = 64
    max_length: int = 64
    dtype: str = "float32"
    devices: int = 1
    accelerator: str = "cpu"
    strategy: str | None = None


@dataclass
class StageConfig:
    """One refinement stage (1: templates, 2: assistant/toy-world sentences, 3: contrastive).

    Attributes:
        samples_per_concept: contexts per selected concept.
        fraction: share of all concepts refined in this stage (the most uncertain ones).
        pairs: confused pairs to separate (stage 3).
        assistant_backend: stage 2: an assistant backend name or an assistant config YAML;
            null = offline toy-world sentences that use the concept.
    """

    samples_per_concept: int = 10
    fraction: float = 0.5
    pairs: int = 20
    assistant_backend: str | None = None


@dataclass
class InterpreterConfig:
    """The interpreter and its training.

    Attributes:
        d_model: encoder width.
        n_heads: attention heads.
        n_layers: encoder layers.
        dropout: dropout.
        lr: learning rate.
        weight_decay: weight decay.
        category_weight: category-head loss weight (0: none).
        similarity_weight: MiniLM name-embedding head loss weight (0: none).
        max_epochs: training epochs.
        batch_size: samples per batch.
        pooling: which sites the interpreter reads (``span_mean`` or ``context_mean``).
        val_fraction: share of context groups held out for validation.
        random_label_control: also train the same interpreter on shuffled labels (at the final stage).
        compare_poolings: also train and evaluate interpreters (and the baselines) on the sites
            of these poolings, side by side; the selection of concepts uses ``pooling``.
    """

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.01
    category_weight: float = 0.5
    similarity_weight: float = 0.0
    max_epochs: int = 40
    batch_size: int = 128
    pooling: str = "span_mean"
    val_fraction: float = 0.15
    random_label_control: bool = True
    compare_poolings: list[str] = field(default_factory=list)


@dataclass
class RefineConfig:
    """``difflens encyclopedia refine`` configuration.

    Attributes:
        model: the causal LM (Hub id or directory).
        run_dir: output directory.
        concepts: concept source (``source``, ``path``, ``max_concepts``, ``topics``, ``seed``).
        final_stage: last stage to run (0-3).
        capture: capture settings.
        stage1: template stage.
        stage2: assistant / toy-world sentence stage.
        stage3: contrastive stage.
        interpreter: interpreter settings.
        heldout_samples: held-out templates per concept for task (a) and convergence.
        input_only_baseline: run the MiniLM input-only baseline.
        convergence_tolerance: relative difference under which a concept mean counts as converged.
        num_threads: torch CPU threads (0 = torch's default). Small models on a shared machine
            run several times faster with 1 thread than with 2.
        seed: seed of everything.
    """

    model: str
    run_dir: str
    concepts: dict = field(default_factory=lambda: {"source": "toyworld"})
    final_stage: int = 2
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    stage1: StageConfig = field(default_factory=lambda: StageConfig(10, 0.5))
    stage2: StageConfig = field(default_factory=lambda: StageConfig(10, 0.5))
    stage3: StageConfig = field(default_factory=lambda: StageConfig(4, 0.0, 20))
    interpreter: InterpreterConfig = field(default_factory=InterpreterConfig)
    heldout_samples: int = 6
    input_only_baseline: bool = True
    convergence_tolerance: float = 0.5
    num_threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        from datamodules.encyclopedia import ConceptSource
        from difflens.config import config_from_mapping
        from difflens.encyclopedia.pooling import check_poolings
        from difflens.errors import ConfigError

        if not 0 <= self.final_stage <= 3:
            raise ConfigError(f"final_stage must be 0, 1, 2 or 3, got {self.final_stage}")
        config_from_mapping(ConceptSource, self.concepts, where="concepts")
        check_poolings(self.capture.poolings)
        for pooling in [self.interpreter.pooling, *self.interpreter.compare_poolings]:
            if pooling not in self.capture.poolings:
                raise ConfigError(f"interpreter pooling {pooling!r} is not captured; "
                                  f"add it to capture.poolings {self.capture.poolings}")
        for name in ("stage1", "stage2", "stage3"):
            s = getattr(self, name)
            if not 0 <= s.fraction <= 1 or s.samples_per_concept < 1:
                raise ConfigError(f"{name}.fraction must be in [0, 1] and {name}.samples_per_concept >= 1")


def _log(msg: str) -> None:
    log.info(f"[encyclopedia] {msg}")


def _trainer(**kwargs):
    import pytorch_lightning as pl

    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                    enable_model_summary=False, enable_checkpointing=False)
    defaults.update(kwargs)
    return pl.Trainer(**defaults)


class Refinement:
    """The state of one refine run: the capture module (model loaded once) and the outputs."""

    def __init__(self, cfg: RefineConfig):
        from datamodules.encyclopedia import ConceptSource
        from lightning_modules import ConceptCapture

        self.cfg = cfg
        self.run = Path(cfg.run_dir)
        self.run.mkdir(parents=True, exist_ok=True)
        self.source = ConceptSource(**cfg.concepts)
        c = cfg.capture
        self.capture = ConceptCapture(cfg.model, layers=c.layers, poolings=c.poolings, dtype=c.dtype)
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.input_only: dict[str, dict] = {}
        # share of its training labels the linear probe of the latest evaluation fits
        self.probe_train_top1: float | None = None

    def path(self, name: str) -> Path:
        return self.run / name

    def capture_evaluation_sets(self) -> Path:
        """The held-out templates, the descriptions and the probe contexts (samples kept);
        returns the held-out file, the reference of the convergence measurement."""
        heldout = self.capture_stage(self.path("heldout.h5"), "heldout_templates", 0, self.cfg.heldout_samples,
                                     keep_samples=True)
        self.capture_stage(self.path("described.h5"), "descriptions", 0, 1, keep_samples=True)
        self.capture_stage(self.path("probe.h5"), "probe", 0, 1, keep_samples=True)
        return heldout

    def capture_refinement_stage(self, stage: int, subset: Path, pairs: Path | None) -> Path:
        """Stage 1-3's contexts: for the ``subset`` of concepts (stages 1, 2) or the confused
        ``pairs`` (stage 3)."""
        scfg = getattr(self.cfg, f"stage{stage}")
        return self.capture_stage(self.path(f"stage{stage}.h5"), STAGE_CONTEXTS[stage], stage,
                                  scfg.samples_per_concept, subset=subset if stage < 3 else None, pairs=pairs,
                                  assistant=scfg.assistant_backend if stage == 2 else None)

    def capture_stage(self, out: Path, kind: str, stage: int, n: int, subset: Path | None = None,
                      pairs: Path | None = None, keep_samples: bool | None = None,
                      assistant: str | None = None) -> Path:
        """Capture ``n`` contexts of ``kind`` per concept into the stage file ``out``, unless it exists."""
        from callbacks import EncyclopediaStageWriter
        from datamodules.encyclopedia import ConceptContextDataModule

        if out.exists():
            _log(f"{out.name}: exists, skipped")
            return out
        c = self.cfg.capture
        dm = ConceptContextDataModule(self.cfg.model, self.source, stage=stage, contexts=kind, samples_per_concept=n,
                                      concept_subset=str(subset) if subset else None,
                                      pairs=str(pairs) if pairs else None, assistant_backend=assistant,
                                      batch_size=c.batch_size, max_length=c.max_length, seed=self.cfg.seed)
        start = time.time()
        strategy = c.strategy or ("auto" if c.devices == 1 else "ddp_fork" if c.accelerator == "cpu" else "ddp")
        trainer = _trainer(accelerator=c.accelerator, devices=c.devices, strategy=strategy,
                           callbacks=[EncyclopediaStageWriter(str(out), keep_samples=keep_samples)])
        self.capture.data = dm
        trainer.predict(self.capture, datamodule=dm, return_predictions=False)
        _log(f"{out.name}: {len(dm.contexts)} {kind} contexts captured in {time.time() - start:.1f}s")
        return out

    def train_interpreter(self, stage: int, train_stages: list[Path], shuffle_labels: bool = False,
                          pooling: str | None = None):
        """Fit an interpreter on ``train_stages`` at ``pooling``'s sites and test it on both tasks;
        returns it with its datamodule, trainer and TensorBoard logger."""
        import pytorch_lightning as pl
        from pytorch_lightning.loggers import TensorBoardLogger

        from datamodules.encyclopedia import EncyclopediaDataModule
        from lightning_modules import ConceptInterpreter

        ic = self.cfg.interpreter
        dm = EncyclopediaDataModule([str(p) for p in train_stages], eval_named=str(self.path("heldout.h5")),
                                    eval_described=str(self.path("described.h5")), pooling=pooling or ic.pooling,
                                    val_fraction=ic.val_fraction, batch_size=ic.batch_size, seed=self.cfg.seed,
                                    shuffle_labels=shuffle_labels)
        model = ConceptInterpreter(ic.d_model, ic.n_heads, ic.n_layers, ic.dropout, ic.lr, ic.weight_decay,
                                   category_weight=ic.category_weight, similarity_weight=ic.similarity_weight, data=dm)
        pl.seed_everything(self.cfg.seed, verbose=False)
        version = f"stage{stage}_{pooling or ic.pooling}" + ("_random_labels" if shuffle_labels else "")
        logger = TensorBoardLogger(save_dir=str(self.run), name="tb", version=version)
        trainer = _trainer(max_epochs=ic.max_epochs, logger=logger, log_every_n_steps=5)
        start = time.time()
        trainer.fit(model, datamodule=dm)
        trainer.test(model, datamodule=dm, verbose=False)
        _log(f"interpreter {version}: trained on {len(dm.data['train']['y'])} samples "
             f"({len(dm.data['val']['y'])} validation) in {time.time() - start:.1f}s")
        return model, dm, trainer, logger

    def train_and_evaluate(self, stage: int, stages: list[Path]):
        """Train this stage's interpreter on ``stages`` (checkpointed), evaluate it against the
        baselines, and the same on each compared pooling and, at the final stage, on shuffled
        labels; returns the interpreter and its datamodule, which select the next stage."""
        ic = self.cfg.interpreter
        model, dm, trainer, logger = self.train_interpreter(stage, stages)
        self.save_checkpoint(trainer, self.path(f"interpreter_stage{stage}.ckpt"))
        self.evaluate_stage(stage, model, dm, logger, ic.pooling)
        for pooling in ic.compare_poolings:
            other, other_dm, _, other_logger = self.train_interpreter(stage, stages, pooling=pooling)
            self.evaluate_stage(stage, other, other_dm, other_logger, pooling)
        if ic.random_label_control and stage == self.cfg.final_stage:
            control, control_dm, _, _ = self.train_interpreter(stage, stages, shuffle_labels=True)
            self.add_control(stage, control, control_dm)
        return model, dm

    def save_checkpoint(self, trainer, out: Path) -> None:
        from difflens.files import atomic_path

        with atomic_path(out) as tmp:
            trainer.save_checkpoint(str(tmp))

    def evaluate_stage(self, stage: int, model, dm, logger, pooling: str) -> None:
        """A row per task and method: the interpreter, nearest centroid, a linear probe and
        (computed once per task) the input-only baseline; their scalars to TensorBoard."""
        import numpy as np

        from difflens.encyclopedia import baselines as B
        from difflens.encyclopedia.metrics import evaluate

        category = np.asarray(dm.concept_category)
        train = dm.data["train"]
        probe, probe_train_acc = B.fit_softmax_probe(train["x"], train["y"], dm.n_concepts, seed=self.cfg.seed)
        for task in dm.test_tasks:
            x, y = dm.data[task]["x"], dm.data[task]["y"]
            results = {"interpreter": model.test_results[task]["metrics"]}
            results["nearest_centroid"] = evaluate(B.nearest_centroid_scores(train["x"], train["y"], x, dm.n_concepts),
                                                   y, category)
            p = probe(x)
            results["linear_probe"] = evaluate(p, y, category, probs=p)
            if self.cfg.input_only_baseline:
                if task not in self.input_only:
                    from lightning_modules.interpreter import load_embedder

                    scores = B.input_only_scores(load_embedder(), dm.contexts[task], dm.concept_names)
                    self.input_only[task] = evaluate(scores, y, category)
                results["input_only"] = self.input_only[task]
            for method, metrics in results.items():
                self.rows.append({"stage": stage, "task": task, "method": method, "pooling": pooling,
                                  "metrics": metrics})
                for name, value in metrics.items():
                    if name != "n" and value == value:
                        logger.experiment.add_scalar(f"baselines/{task}/{name}/{method}", value, stage)
        self.probe_train_top1 = probe_train_acc

    def add_control(self, stage: int, control_model, control_dm) -> None:
        """Rows of the interpreter trained on shuffled labels, and a note on how much it memorised."""
        train = control_dm.data["train"]
        memorised = float((control_model.predict_proba(train["x"]).argmax(1) == train["y"]).mean())
        for task in control_dm.test_tasks:
            self.rows.append({"stage": stage, "task": task, "method": "random_label_control",
                              "pooling": self.cfg.interpreter.pooling,
                              "metrics": {**control_model.test_results[task]["metrics"],
                                          "train_top1_memorised": memorised}})
        self.notes.append(f"stage {stage}: the random-label control memorised {memorised:.3f} of its shuffled "
                          f"training labels; the linear probe fits {self.probe_train_top1:.3f} of the true ones")

    def select(self, stage: int, model, dm) -> tuple[Path, Path | None]:
        """Pick the concepts for ``stage`` from the probe capture (and confused pairs)."""
        import numpy as np

        from difflens.encyclopedia.selection import concept_uncertainty, confused_pairs, select_uncertain
        from difflens.encyclopedia.store import EncyclopediaStage
        from difflens.files import write_json

        probe = EncyclopediaStage(self.path("probe.h5"))
        x, y, _, _ = probe.features(dm.sites)
        probs = model.predict_proba(x)
        scfg = getattr(self.cfg, f"stage{stage}")
        uncertainty = concept_uncertainty(probs, y, dm.n_concepts)
        chosen = select_uncertain(uncertainty, scfg.fraction) if scfg.fraction > 0 else np.zeros(0, np.int64)
        names = [dm.concept_names[i] for i in chosen]
        subset = self.path(f"stage{stage}_concepts.json")
        write_json(subset, {"stage": stage,
                            "rule": "most uncertain on the probe contexts: 1 - mean(confidence x correct)",
                            "probe_top1": float((probs.argmax(1) == y).mean()),
                            "concepts": names, "uncertainty": [float(uncertainty[i]) for i in chosen]})
        pairs_path = None
        if stage == 3:
            pairs = confused_pairs(probs.argmax(1), y, scfg.pairs)
            pairs_path = self.path("stage3_pairs.json")
            write_json(pairs_path, [[dm.concept_names[a], dm.concept_names[b]] for a, b in pairs])
        _log(f"stage {stage}: {len(names)} most uncertain concepts chosen (probe top-1 "
             f"{float((probs.argmax(1) == y).mean()):.3f})")
        return subset, pairs_path

    def write_convergence(self, stage1: Path, heldout: Path, sites: list[str]) -> list[dict]:
        """How stage 1's per-concept means converge to the held-out ones, at each site
        (``convergence.json``)."""
        from difflens.files import write_json

        ns = [n for n in CONVERGENCE_NS if n <= self.cfg.stage1.samples_per_concept]
        convergence = [measure_convergence(str(stage1), str(heldout), site, ns, self.cfg.convergence_tolerance)
                       for site in sites]
        write_json(self.path("convergence.json"), convergence)
        return convergence


def refine(cfg: RefineConfig) -> dict:
    """Run the refinement loop; returns the report dict (also written to ``run_dir``)."""
    import torch

    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    r = Refinement(cfg)
    heldout = r.capture_evaluation_sets()
    stages = [r.capture_stage(r.path("stage0.h5"), "bare", 0, 1)]
    model, dm = r.train_and_evaluate(0, stages)
    convergence = None
    for stage in range(1, cfg.final_stage + 1):
        # the concepts (and pairs) of this stage are chosen by the previous stage's interpreter
        subset, pairs = r.select(stage, model, dm)
        if stage == 3 and not json.loads(pairs.read_text(encoding="utf-8")):
            r.notes.append("stage 3 was skipped: the interpreter confused no pair of concepts on the probe")
            _log("stage 3: no confused pair, skipped")
            break
        stages.append(r.capture_refinement_stage(stage, subset, pairs))
        model, dm = r.train_and_evaluate(stage, stages)
        if stage == 1 and cfg.stage1.samples_per_concept >= 2:
            convergence = r.write_convergence(stages[1], heldout, dm.sites)
    report = write_refinement_report(r.run, cfg, r.rows, r.notes, convergence)
    _log(f"report: {r.path('report.md')}")
    return report
