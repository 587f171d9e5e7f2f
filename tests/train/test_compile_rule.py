"""trainer.compile auto: the choice table of train/compile_rule.py, keyed on the backbone and
the device class read from (faked) CPU flags; the compile cache folder."""
import pytest

from mvssl.build import resolve
from mvssl.config import ConfigError
from mvssl.train import compile_rule

ZEN4 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
XEON_NO_AMX = "vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_fp16\n"
SAPPHIRE = "vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
AVX2 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2\n"


@pytest.fixture
def cpu(tmp_path):
    def write(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return str(path)
    return write


def test_device_class_from_the_cpu_flags(cpu):
    assert compile_rule.device_class("cpu", cpu(ZEN4)) == "cpu-bf16"
    assert compile_rule.device_class("cpu", cpu(SAPPHIRE)) == "cpu-bf16"
    assert compile_rule.device_class("cpu", cpu(XEON_NO_AMX)) == "cpu"  # bf16 measured slower there
    assert compile_rule.device_class("cpu", cpu(AVX2)) == "cpu"


@pytest.mark.parametrize("name, family", [("convnet", "convnet"), ("resnet18", "resnet"), ("resnet50", "resnet"),
                                          ("vit-tiny", "vit"), ("timm:resnet18", "timm")])
def test_backbone_family(name, family):
    assert compile_rule.backbone_family(name) == family


def test_true_and_false_are_obeyed_everywhere(cpu):
    for flags in (ZEN4, AVX2):
        assert compile_rule.resolve_compile(True, "convnet", "cpu", 10, cpu(flags))[0] is True
        assert compile_rule.resolve_compile(False, "resnet18", "cpu", 10**6, cpu(flags))[0] is False


def test_auto_keeps_the_small_convnet_eager_and_compiles_long_resnet_runs_on_fast_bf16(cpu):
    zen4 = cpu(ZEN4)
    compiled, why = compile_rule.resolve_compile("auto", "convnet", "cpu", 1500, zen4)
    assert not compiled and "measured not to pay for convnet on cpu-bf16" in why
    assert "not measured for vit on cpu-bf16" in compile_rule.resolve_compile("auto", "vit-tiny", "cpu", 10**6, zen4)[1]
    assert compile_rule.resolve_compile("auto", "resnet18", "cpu", 1500, zen4)[0] is True
    compiled, why = compile_rule.resolve_compile("auto", "resnet18", "cpu", 300, zen4)  # too short to repay
    assert not compiled and "from 1000 steps" in why


@pytest.mark.parametrize("flags", [XEON_NO_AMX, AVX2])
def test_auto_is_eager_on_cpus_where_nothing_was_measured(cpu, flags):
    """Nothing slower than before auto existed on a CPU without fast bf16: eager, as then."""
    for backbone in ("convnet", "resnet18", "vit-tiny", "timm:resnet18"):
        assert compile_rule.resolve_compile("auto", backbone, "cpu", 10**6, cpu(flags))[0] is False


def test_the_threshold_follows_the_table(cpu, monkeypatch):
    monkeypatch.setitem(compile_rule.PAYS, ("vit", "cpu"), 500)
    assert compile_rule.resolve_compile("auto", "vit-tiny", "cpu", 499, cpu(AVX2))[0] is False
    assert compile_rule.resolve_compile("auto", "vit-tiny", "cpu", 500, cpu(AVX2))[0] is True


def test_compile_cache_under_mvssls_cache_unless_the_user_chose_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "c"))
    env = {}
    assert compile_rule.use_compile_cache(env) == str(tmp_path / "c" / "inductor") == env["TORCHINDUCTOR_CACHE_DIR"]
    env = {"TORCHINDUCTOR_CACHE_DIR": "/elsewhere"}
    assert compile_rule.use_compile_cache(env) == "/elsewhere"


def test_the_config_key_takes_auto_true_false_only():
    assert resolve({})["trainer"]["compile"] == "auto"
    assert resolve({"trainer": {"compile": True}})["trainer"]["compile"] is True
    with pytest.raises(ConfigError, match="trainer.compile"):
        resolve({"trainer": {"compile": "sometimes"}})
