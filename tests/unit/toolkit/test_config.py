"""helpers.toolkit.config: the build settings."""

import pytest

from helpers.toolkit import config

IMGSZ = 96


def test_build_config_validates_and_names():
    assert config.BuildConfig().name == "fp16"
    assert config.BuildConfig(quantize=True, algorithm="kl_divergence", method="layer").name == "int8_kl_divergence_layer"
    assert config.BuildConfig(target="RK3566").target == "rk3566"
    with pytest.raises(ValueError, match="unknown target platform 'rk9999'.*rk3588"):
        config.BuildConfig(target="rk9999")
    with pytest.raises(ValueError, match="hybrid quantization needs quantize=True"):
        config.BuildConfig(auto_hybrid=True)
    with pytest.raises(ValueError, match="quantized algorithm"):
        config.BuildConfig(quantize=True, algorithm="minmax")
    cfg = config.BuildConfig(quantize=True, float_layers=["a", "b"])
    assert config.BuildConfig.from_dict(cfg.to_dict()) == cfg and cfg.name == "int8_normal_channel_hybrid2"
    kw = cfg.config_kwargs()
    assert kw["mean_values"] == [[0.0, 0.0, 0.0]] and kw["std_values"] == [[255.0, 255.0, 255.0]]
    with pytest.raises(ValueError, match="rv1106 runs INT8 models only"):
        config.BuildConfig(target="rv1106")
    assert config.BuildConfig(target="RV1103", quantize=True).target == "rv1103"
    # the two pitfalls 05 builds on purpose: swapped calibration colours, a batch baked into the model
    odd = config.BuildConfig(quantize=True, quant_img_RGB2BGR=True, rknn_batch_size=3)
    assert odd.name == "int8_normal_channel_rgb2bgr_batch3" and odd.config_kwargs()["quant_img_RGB2BGR"] is True
    assert odd.build_kwargs("d.txt")["rknn_batch_size"] == 3 and "rknn_batch_size" not in cfg.build_kwargs("d.txt")
    assert "quant_img_RGB2BGR" not in cfg.config_kwargs()
    with pytest.raises(ValueError, match="rknn_batch_size is 1 or more"):
        config.BuildConfig(rknn_batch_size=0)


def test_sweep_builds_mmse_once():
    """05's sweep: algorithms x methods, and mmse (minutes per build) once, per-channel, when only switched on."""
    from helpers.experiments import builds

    names = lambda cfgs: [c.name for c in cfgs]  # noqa: E731
    plain = builds.sweep_configs("rk3588", ["normal", "kl_divergence"], ["layer", "channel"])
    assert names(plain) == ["int8_normal_layer", "int8_normal_channel", "int8_kl_divergence_layer",
                            "int8_kl_divergence_channel"]
    on = builds.sweep_configs("rk3588", ["normal", "kl_divergence"], ["layer", "channel"], run_mmse=True)
    assert names(on) == names(plain) + ["int8_mmse_channel"]
    assert names(builds.sweep_configs("rk3588", ["normal"], ["layer"], run_mmse=True))[-1] == "int8_mmse_layer"
    listed = builds.sweep_configs("rk3576", ["normal", "mmse"], ["layer", "channel"], run_mmse=True)
    assert names(listed) == ["int8_normal_layer", "int8_normal_channel", "int8_mmse_layer", "int8_mmse_channel"]
    assert {c.target for c in listed} == {"rk3576"}
