"""The command line: generate, check, convert, fmt; exit codes, error output, files.

Most tests run ``snndsl.cli.main`` in-process with capsys; a few run
``python -m snndsl`` in a subprocess to see the real exit status and streams.  Files
are written under pytest's tmp_path only; nothing in specs/ is ever modified.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

import snndsl
from snndsl.cli import main
from snndsl.syntax.formatter import format_module

SEED = ROOT / "specs" / "seed.snn"
CONV = ROOT / "specs" / "conv.snn"

BAD_SPEC = "network N {\n    input x: [8]\n    output y = x -> Lnear(4)\n}\n"
ERROR_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>E\d{4})\]: ")


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snndsl", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def usage_exit(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.fixture
def bad_spec(tmp_path):
    path = tmp_path / "bad.snn"
    path.write_text(BAD_SPEC, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- generate


def test_generate_to_stdout(capsys):
    assert main(["generate", str(SEED)]) == 0
    out, err = capsys.readouterr()
    assert out == snndsl.generate(str(SEED))
    assert err == ""


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_generate_mode(capsys, mode):
    assert main(["generate", str(CONV), "--mode", mode]) == 0
    out = capsys.readouterr().out
    assert out == snndsl.generate(str(CONV), mode=mode)
    assert out.startswith(f'"""ConvNet: {mode}-step form')


def test_generate_backend_triton(tmp_path, capsys):
    assert main(["generate", str(SEED), "--backend", "triton"]) == 0
    out = capsys.readouterr().out
    assert out == snndsl.generate(str(SEED), backend="triton")
    assert "@triton.jit" in out and "--backend triton -o THIS_FILE" in out
    # a layer the backend cannot lower: a located E0209, exit 1, no file written
    spec = tmp_path / "r.snn"
    spec.write_text(
        "network R {\n    input x: [4]\n"
        "    output y = x -> sn: snntorch.RLeaky(beta=0.9, linear_features=4)\n}\n"
    )
    target = tmp_path / "r.py"
    assert main(["generate", str(spec), "--backend", "triton", "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:3:25: error[E0209]" in err and not target.exists()


def test_generate_default_mode_is_multi(capsys):
    assert main(["generate", str(SEED)]) == 0
    assert capsys.readouterr().out == snndsl.generate(str(SEED), mode="multi")


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_generate_to_output_file(tmp_path, capsys, mode):
    target = tmp_path / "seed_net.py"
    assert main(["generate", str(SEED), "--mode", mode, "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text(encoding="utf-8") == snndsl.generate(str(SEED), mode=mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed_net.py"]  # no temp files


def test_generate_output_overwrites_an_existing_file(tmp_path):
    target = tmp_path / "out.py"
    target.write_text("old contents\n", encoding="utf-8")
    assert main(["generate", str(SEED), "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == snndsl.generate(str(SEED))


def test_generate_selects_a_network(tmp_path, capsys):
    two = tmp_path / "two.snn"
    two.write_text(
        SEED.read_text(encoding="utf-8")
        + "\n"
        + "network Other {\n    input x: [3]\n    output y = x -> IF\n}\n",
        encoding="utf-8",
    )
    assert main(["generate", str(two)]) == 1
    err = capsys.readouterr().err
    assert "error[E0105]" in err and "--network" in err
    assert main(["generate", str(two), "--network", "Other"]) == 0
    out = capsys.readouterr().out
    assert "class Other(nn.Module)" in out and "class Seed(" not in out


def test_generate_set_overrides_a_network_parameter(capsys):
    assert main(["generate", str(CONV)]) == 0
    default = capsys.readouterr().out
    assert main(["generate", str(CONV), "--set", "channels=4"]) == 0
    changed = capsys.readouterr().out
    assert changed == snndsl.generate(str(CONV), params={"channels": 4})
    assert "[T * N, 8, 28, 28]" in default and "[T * N, 4, 28, 28]" not in default
    assert "[T * N, 4, 28, 28]" in changed and "[T * N, 8, 28, 28]" not in changed
    assert "nn.Conv2d(1, 4, 3" in changed


def test_generate_set_is_repeatable(capsys):
    argv = ["generate", str(CONV), "--set", "channels=4", "--set", "classes=3"]
    assert main([*argv, "--mode", "single"]) == 0
    out = capsys.readouterr().out
    assert "nn.Conv2d(1, 4, 3" in out
    assert "-> logits [N, 3]" in out


def test_generate_set_unknown_parameter_is_a_spec_error(capsys):
    assert main(["generate", str(CONV), "--set", "chanels=4"]) == 1
    err = capsys.readouterr().err
    m = ERROR_LINE.match(err)
    assert m and m["code"] == "E0202" and (m["line"], m["col"]) == ("2", "9")
    assert "did you mean 'channels'?" in err


def test_generate_set_value_with_a_syntax_error(capsys):
    assert main(["generate", str(CONV), "--set", "channels=[1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("--set channels:1:3: error[E0001]: unexpected end of file")
    assert "Traceback" not in err


# --------------------------------------------------------------------------- exit codes


def test_spec_error_exit_1_with_located_message(bad_spec, capsys):
    assert main(["generate", str(bad_spec)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    first = err.splitlines()[0]
    assert first == f"{bad_spec}:3:21: error[E0201]: unknown operation 'Lnear'"
    assert "3 |     output y = x -> Lnear(4)" in err
    assert "  |                     ^^^^^" in err
    assert "= hint: did you mean 'Linear'?" in err
    assert "Traceback" not in err


def test_spec_error_in_a_subprocess(bad_spec):
    proc = run_cli("generate", str(bad_spec))
    assert proc.returncode == 1
    assert proc.stdout == ""
    m = ERROR_LINE.match(proc.stderr)
    assert m, proc.stderr
    assert (m["path"], m["line"], m["col"], m["code"]) == (
        str(bad_spec),
        "3",
        "21",
        "E0201",
    )
    assert "Traceback" not in proc.stderr


def test_syntax_error_exit_1(tmp_path, capsys):
    spec = tmp_path / "syntax.snn"
    spec.write_text("network N {\n    input x: [8] $\n}\n", encoding="utf-8")
    assert main(["generate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:2:18: error[E0001]: unexpected character '$'")


def test_missing_spec_file_exit_1(tmp_path, capsys):
    missing = tmp_path / "nope.snn"
    assert main(["generate", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{missing}:1:1: error[E0010]: cannot read spec")
    assert "Traceback" not in err


def test_directory_as_spec_exit_1(tmp_path, capsys):
    folder = tmp_path / "folder.snn"
    folder.mkdir()
    assert main(["generate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "error[E0010]" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        [],
        ["generate"],
        ["generate", "specs/seed.snn", "--mode", "both"],
        ["generate", "specs/seed.snn", "--set", "=3"],
        ["generate", "specs/seed.snn", "--set", "channels"],
        ["generate", "specs/seed.snn", "--no-such-flag"],
        ["convert", "specs/seed.snn"],
        ["fmt", "specs/seed.snn", "--check", "--in-place"],
        ["check", "specs/seed.snn", "--steps", "0"],
        ["check", "specs/seed.snn", "--batch", "-1"],
        ["check", "specs/seed.snn", "--against", "brian2"],
    ],
    ids=lambda argv: " ".join(argv) or "no-args",
)
def test_usage_errors_exit_2(argv, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert usage_exit(argv) == 2
    err = capsys.readouterr().err
    assert "usage: snndsl" in err
    assert "Traceback" not in err


def test_unknown_subcommand_in_a_subprocess():
    proc = run_cli("bogus")
    assert proc.returncode == 2
    assert "invalid choice: 'bogus'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_mode_in_a_subprocess():
    proc = run_cli("generate", "specs/seed.snn", "--mode", "both")
    assert proc.returncode == 2
    assert "argument --mode: invalid choice: 'both'" in proc.stderr


def test_version_in_a_subprocess():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"snndsl {snndsl.__version__}"


def test_version_in_process(capsys):
    assert usage_exit(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"snndsl {snndsl.__version__}"


def test_help_lists_the_commands(capsys):
    assert usage_exit(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("generate", "check", "convert", "fmt"):
        assert command in out


# --------------------------------------------------------------------------- no partial files


def test_failing_generate_writes_no_output_file(bad_spec, tmp_path, capsys):
    target = tmp_path / "out" / "net.py"
    target.parent.mkdir()
    assert main(["generate", str(bad_spec), "-o", str(target)]) == 1
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file either
    assert "error[E0201]" in capsys.readouterr().err


def test_failing_generate_leaves_an_existing_output_untouched(bad_spec, tmp_path):
    target = tmp_path / "net.py"
    original = b"# hand-written\r\nkeep = '\xc3\xa9'\n\x00tail"
    target.write_bytes(original)
    before = target.stat()
    assert main(["generate", str(bad_spec), "-o", str(target)]) == 1
    assert target.read_bytes() == original
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.snn", "net.py"]


def test_failing_generate_in_a_subprocess_leaves_output_untouched(bad_spec, tmp_path):
    target = tmp_path / "net.py"
    target.write_text("previous\n", encoding="utf-8")
    proc = run_cli("generate", str(bad_spec), "-o", str(target))
    assert proc.returncode == 1
    assert target.read_text(encoding="utf-8") == "previous\n"


def test_unwritable_output_is_exit_1(tmp_path, capsys):
    target = tmp_path / "missing-dir" / "net.py"
    assert main(["generate", str(SEED), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("snndsl: ") and "Traceback" not in err
    assert not target.parent.exists()


def test_failing_convert_leaves_an_existing_output_untouched(bad_spec, tmp_path):
    syntax = tmp_path / "syntax.snn"
    syntax.write_text("network N {\n", encoding="utf-8")
    target = tmp_path / "out.yaml"
    target.write_text("keep: me\n", encoding="utf-8")
    assert main(["convert", str(syntax), "-o", str(target)]) == 1
    assert target.read_text(encoding="utf-8") == "keep: me\n"


# --------------------------------------------------------------------------- generate and torch


def test_generate_does_not_import_torch():
    code = (
        "import sys, snndsl.cli; snndsl.cli.main(['generate', 'specs/seed.snn']); "
        "assert 'torch' not in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "class Seed(nn.Module)" in proc.stdout


def test_generate_with_a_spec_error_does_not_import_torch(bad_spec):
    code = (
        "import sys, snndsl.cli; rc = snndsl.cli.main(['generate', sys.argv[1]]); "
        "assert rc == 1, rc; assert 'torch' not in sys.modules"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(bad_spec)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- check


def test_check_seed_passes(capsys):
    pytest.importorskip("torch")
    assert main(["check", str(SEED)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[-1] == "PASS"
    assert any("SpikingJelly" in line for line in lines)
    assert any(line.startswith("network Seed: T=8, N=4") for line in lines)


def test_check_spec_error_exit_1(bad_spec, capsys):
    assert main(["check", str(bad_spec)]) == 1
    err = capsys.readouterr().err
    assert ERROR_LINE.match(err) and "Traceback" not in err


# --------------------------------------------------------------------------- fmt


def test_fmt_check_canonical_file(tmp_path, capsys):
    spec = tmp_path / "seed.snn"
    shutil.copyfile(SEED, spec)
    assert main(["fmt", "--check", str(spec)]) == 0
    assert capsys.readouterr().err == ""


def test_fmt_check_non_canonical_copy(tmp_path, capsys):
    spec = tmp_path / "messy.snn"
    messy = SEED.read_text(encoding="utf-8").replace("    input x: [8]", "  input   x : [ 8 ]")
    spec.write_text(messy, encoding="utf-8")
    assert main(["fmt", "--check", str(spec)]) == 1
    assert f"{spec}: would be reformatted" in capsys.readouterr().err
    assert spec.read_text(encoding="utf-8") == messy  # --check never writes


def test_fmt_prints_canonical_text(tmp_path, capsys):
    spec = tmp_path / "messy.snn"
    spec.write_text("network Seed{input x:[8] output y=x->Linear(4)->IF}", encoding="utf-8")
    assert main(["fmt", str(spec)]) == 0
    out = capsys.readouterr().out
    assert out == format_module(snndsl.parse(spec))
    assert "    input x: [8]\n" in out


def test_fmt_in_place_makes_a_file_canonical(tmp_path, capsys):
    spec = tmp_path / "messy.snn"
    spec.write_text("network Seed{input x:[8] output y=x->Linear(4)->IF}", encoding="utf-8")
    before = snndsl.parse(spec)
    assert main(["fmt", "-i", str(spec)]) == 0
    assert capsys.readouterr().out == ""
    assert snndsl.parse(spec) == before
    assert main(["fmt", "--check", str(spec)]) == 0


def test_fmt_check_of_a_bad_spec_is_a_spec_error(bad_spec, capsys):
    syntax = bad_spec.with_name("syntax.snn")
    syntax.write_text("network N {\n", encoding="utf-8")
    assert main(["fmt", "--check", str(syntax)]) == 1
    assert ERROR_LINE.match(capsys.readouterr().err)


# --------------------------------------------------------------------------- convert


@pytest.mark.parametrize("spec", [SEED, CONV], ids=lambda p: p.name)
def test_convert_round_trip_through_yaml(spec, tmp_path):
    as_yaml = tmp_path / f"{spec.stem}.yaml"
    back = tmp_path / f"{spec.stem}.snn"
    assert main(["convert", str(spec), "-o", str(as_yaml)]) == 0
    assert main(["convert", str(as_yaml), "-o", str(back)]) == 0
    original = snndsl.parse(spec)
    assert snndsl.parse(as_yaml) == original
    assert snndsl.parse(back) == original
    assert back.read_text(encoding="utf-8") == format_module(original)
    # Same file name, same AST: the generated module is identical.
    assert snndsl.generate(str(back)) == snndsl.generate(str(spec))


def test_convert_yml_suffix_writes_yaml(tmp_path):
    out = tmp_path / "seed.yml"
    assert main(["convert", str(SEED), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("- network: Seed")


def test_convert_requires_output(capsys):
    assert usage_exit(["convert", str(SEED)]) == 2
    assert "-o/--output" in capsys.readouterr().err


def test_check_steps_follow_the_psn_length(capsys):
    spec = str(ROOT / "specs" / "psn.snn")
    assert main(["check", spec, "--against", "none"]) == 0
    assert "T=8" in capsys.readouterr().out
    assert main(["check", spec, "--steps", "4"]) == 1
    assert "use --steps 8" in capsys.readouterr().err


def test_check_rejects_non_positive_steps(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", str(ROOT / "specs" / "seed.snn"), "--steps", "0"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    "option, value",
    [
        ("--steps", "9223372036854775808"),
        ("--steps", "-3"),
        ("--batch", "99999999999999999999999"),
        ("--batch", "0"),
        ("--seed", "9223372036854775808"),
        ("--seed", "-1"),
        ("--seed", "1.5"),
        ("--input-scale", "nan"),
        ("--input-scale", "inf"),
        ("--input-scale", "0"),
    ],
)
def test_check_options_out_of_range_are_usage_errors(capsys, option, value):
    assert usage_exit(["check", str(SEED), option, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and "Traceback" not in err


def test_check_accepts_the_largest_seed(capsys):
    assert main(["check", str(SEED), "--seed", str(2**63 - 1), "--against", "none"]) == 0


def test_convert_refuses_an_unknown_suffix(tmp_path, capsys):
    out = tmp_path / "spec.json"
    with pytest.raises(SystemExit) as info:
        main(["convert", str(ROOT / "specs" / "seed.snn"), "-o", str(out)])
    assert info.value.code == 2
    assert "convert writes .snn or .yaml" in capsys.readouterr().err
    assert not out.exists()


def test_set_takes_a_bare_word_for_a_string(tmp_path):
    bare, quoted = tmp_path / "bare.py", tmp_path / "quoted.py"
    spec = str(ROOT / "specs" / "spikingjelly" / "sew_resnet18.snn")
    assert main(["generate", spec, "--set", "cnf=IAND", "-o", str(bare)]) == 0
    assert main(["generate", spec, "--set", 'cnf="IAND"', "-o", str(quoted)]) == 0
    assert "--set 'cnf=\"IAND\"'" in bare.read_text()  # recorded as the string it became
    body = bare.read_text().split('"""', 2)[2]
    assert body == quoted.read_text().split('"""', 2)[2]  # the same module below the header


def test_help_is_plain_text_and_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out
    for command in ("generate", "check", "convert", "fmt", "summary", "graph", "coverage"):
        assert command in out.split("positional arguments")[0], command
