"""What the toolkit builds: one frozen :class:`BuildConfig`, stored next to every ``.rknn``.

Input convention (checked in the tests): the RKNN model takes **NHWC uint8 RGB** — the
letterboxed canvas as it comes from ``cv2`` (BGR) flipped to RGB — and normalises inside the NPU
with ``mean_values=[0, 0, 0]`` and ``std_values=[255, 255, 255]``, i.e. exactly the ``x / 255``
that ultralytics applies in training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..board.targets import SOCS, check_target

#: platforms this workbook accepts, with the NPU they carry (from the one SoC table)
TARGETS: dict[str, str] = {name: soc.describe() for name, soc in SOCS.items()}
ALGORITHMS = ("normal", "kl_divergence", "mmse")
METHODS = ("layer", "channel")
#: x_npu = (x_uint8 - mean) / std, per RGB channel: the x / 255 of ultralytics' preprocessing
MEAN_VALUES = (0.0, 0.0, 0.0)
STD_VALUES = (255.0, 255.0, 255.0)


def toolkit_version() -> str:
    """The installed rknn-toolkit2 version (the one lookup of it in the workbook)."""
    from importlib.metadata import version

    return version("rknn-toolkit2")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what the toolkit builds. Stored next to every .rknn file."""

    target: str = "rk3588"
    quantize: bool = False
    algorithm: str = "normal"          # quantized_algorithm
    method: str = "channel"            # quantized_method
    optimization_level: int = 3
    compress_weight: bool = False
    model_pruning: bool = False
    auto_hybrid: bool = False          # build(auto_hybrid=True): the toolkit picks float layers itself
    float_layers: tuple = ()           # manual hybrid: these layers stay float16
    outputs: tuple | None = None       # cut the ONNX graph at these tensors (load_onnx(outputs=...))
    mean_values: tuple = MEAN_VALUES
    std_values: tuple = STD_VALUES
    disable_rules: tuple = ()          # toolkit graph-fusion rules to skip (config(disable_rules=...)), see jobs
    quant_img_RGB2BGR: bool = False    # the toolkit swaps the calibration images' channels first (05 shows the cost)
    rknn_batch_size: int = 1           # frames per inference call baked into the .rknn (see board.runtimes.npu.batch_core_rule)
    toolkit: str = ""                  # another rknn-toolkit2 release builds it ("2.3.2"; toolkit.versions); "": the pinned one

    def __post_init__(self):
        object.__setattr__(self, "target", check_target(self.target))
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        object.__setattr__(self, "disable_rules", tuple(self.disable_rules))
        if self.outputs is not None:
            object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"quantized algorithm {self.algorithm!r} is not one of {ALGORITHMS}")
        if self.method not in METHODS:
            raise ValueError(f"quantized method {self.method!r} is not one of {METHODS}")
        if int(self.rknn_batch_size) < 1:
            raise ValueError("rknn_batch_size is 1 or more")
        if not 0 <= int(self.optimization_level) <= 3:
            raise ValueError("optimization_level is 0..3")
        if not self.quantize and not SOCS[self.target].fp16:
            raise ValueError(f"{self.target} runs INT8 models only (the toolkit builds no float16 for it): "
                             "quantize=True")
        if (self.auto_hybrid or self.float_layers) and not self.quantize:
            raise ValueError("hybrid quantization needs quantize=True")
        if self.auto_hybrid and self.float_layers:
            raise ValueError("choose either auto_hybrid or a float_layers list, not both")
        if self.toolkit and not all(x.isdigit() for x in str(self.toolkit).split(".")):
            raise ValueError(f"toolkit is a release number such as '2.3.2', not {self.toolkit!r}")
        if len(self.mean_values) != 3 or len(self.std_values) != 3 or min(self.std_values) <= 0:
            raise ValueError("mean_values and std_values need 3 values each (RGB), std > 0")

    @property
    def name(self) -> str:
        if not self.quantize:
            parts = ["fp16"]
        else:
            parts = ["int8", self.algorithm, self.method]
            if self.auto_hybrid:
                parts.append("autohybrid")
            if self.float_layers:
                parts.append(f"hybrid{len(self.float_layers)}")
        if self.model_pruning:
            parts.append("pruned")
        if self.compress_weight:
            parts.append("compressed")
        if self.optimization_level != 3:
            parts.append(f"O{self.optimization_level}")
        if self.quant_img_RGB2BGR:
            parts.append("rgb2bgr")
        if int(self.rknn_batch_size) != 1:
            parts.append(f"batch{int(self.rknn_batch_size)}")
        if self.toolkit:
            parts.append(f"tk{self.toolkit}")
        return "_".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BuildConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})

    def config_kwargs(self) -> dict:
        """The arguments of ``RKNN.config``."""
        kw = dict(mean_values=[list(self.mean_values)], std_values=[list(self.std_values)],
                  target_platform=self.target, quantized_dtype="w8a8", quantized_algorithm=self.algorithm,
                  quantized_method=self.method, optimization_level=int(self.optimization_level),
                  compress_weight=bool(self.compress_weight), model_pruning=bool(self.model_pruning))
        if self.disable_rules:
            kw["disable_rules"] = list(self.disable_rules)
        if self.quant_img_RGB2BGR:
            kw["quant_img_RGB2BGR"] = True
        return kw

    def build_kwargs(self, dataset) -> dict:
        """The arguments of ``RKNN.build``."""
        kw = {"do_quantization": bool(self.quantize)}
        if int(self.rknn_batch_size) != 1:
            kw["rknn_batch_size"] = int(self.rknn_batch_size)
        if self.quantize:
            kw["dataset"] = str(dataset)
            if self.auto_hybrid:
                kw["auto_hybrid"] = True
        return kw
