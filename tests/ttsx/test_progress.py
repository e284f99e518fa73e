"""Progress: counted work as lines when not on a terminal; TensorRT-readiness warned only where it is meant."""
import io

from ttsx.app.quantize import quantize_artifact
from ttsx.exporter.quantize import QuantizeOptions
from ttsx.base.progress import ConsoleProgress, counter


def test_counted_work_is_plain_lines_off_a_terminal():
    out = io.StringIO()
    progress = ConsoleProgress(out)
    with counter(progress, "graphs", 2) as advance:
        progress("first")
        advance()
        advance()
    assert out.getvalue().splitlines() == ["ttsx: first", "ttsx: graphs 1/2", "ttsx: graphs 2/2"]


def test_a_plain_callable_gets_only_its_messages():
    messages = []
    with counter(messages.append, "graphs", 2) as advance:
        advance()
    assert messages == []


def test_onnxruntime_flavour_says_once_what_it_is_for_instead_of_warning_per_graph(toy_artifact, tmp_path):
    messages = []
    quantize_artifact(QuantizeOptions(toy_artifact, "int8", tmp_path / "int8"), progress=messages.append)
    assert sum("this artifact is for onnxruntime (int8" in m for m in messages) == 1
    assert not any("not TensorRT-ready" in m for m in messages)


def test_readiness_warns_where_asked(toy_artifact):
    from ttsx.exporter.tensorrt_check import readiness

    messages = []
    problems = readiness(toy_artifact / "lm.onnx", "lm", messages.append)  # GQA: a contrib op
    assert problems and len(messages) == 1 and "lm is not TensorRT-ready" in messages[0]
    assert readiness(toy_artifact / "lm.onnx", "lm", None) == problems
