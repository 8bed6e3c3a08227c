"""The model card schema: round trip, InputSpec, and a clear error naming the field for each kind of break."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.card import CardError, ModelCard, file_sha256
from app.conform import InputSpec
from tests.factories import card_data


def test_round_trip_write_load(tmp_path: Path) -> None:
    card = ModelCard.from_dict(card_data())
    path = tmp_path / "model.json"
    card.write(path)
    text = path.read_text()
    assert text.startswith("{\n  ") and text.endswith("}\n")  # pretty JSON
    assert '"tpr_at_fpr_1e-2": 0.9' in text and '"created": "2025-01-31T12:00:00Z"' in text
    loaded = ModelCard.load(path)
    assert loaded == card
    assert json.loads(text) == card_data()
    assert loaded.metrics is not None and loaded.metrics.by_input["fits"].tpr_at_fpr_1e_3 == 0.6


def test_input_spec_from_card() -> None:
    spec = ModelCard.from_dict(card_data()).input_spec()
    assert spec == InputSpec(("vis",), 101, 101, 0.1, ("fits", "png-gray"))


def test_metrics_null_means_not_evaluated_but_the_key_is_required() -> None:
    assert ModelCard.from_dict(card_data(metrics=None)).metrics is None
    data = card_data()
    del data["metrics"]
    with pytest.raises(CardError, match=r"metrics: Field required"):
        ModelCard.from_dict(data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return edit


_DELETE = object()

BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown top-level key", _set("colour", "red"), r"colour: Extra inputs are not permitted"),
    ("unknown nested key", _set("input.band", ["vis"]), r"input\.band: Extra inputs"),
    ("missing field", _set("output.threshold", _DELETE), r"output\.threshold: Field required"),
    ("string for int", _set("input.height", "101"), r"input\.height: Input should be a valid integer"),
    ("int for bool", _set("identity.git_dirty", 0), r"identity\.git_dirty: Input should be a valid boolean"),
    ("upper-case band", _set("input.bands", ["VIS"]), r"input\.bands: .*lower-case"),
    ("repeated band", _set("input.bands", ["g", "g"]), r"input\.bands: .*repeated"),
    ("bands vs png-gray", _set("input.bands", ["g", "r"]), r"input: .*bands.*png-gray"),
    ("unknown format", _set("input.accepts", ["jpeg"]), r"input\.accepts\.0: Input should be 'fits'"),
    ("png without stretch", _set("input.stretch", None), r"input: .*stretch is required"),
    ("threshold above 1", _set("output.threshold", 1.5), r"output\.threshold: .*less than or equal to 1"),
    ("bad sha256", _set("identity.onnx_sha256", "xyz"), r"identity\.onnx_sha256: String should match"),
    ("old opset", _set("identity.opset", 11), r"identity\.opset: .*greater than or equal to 17"),
    ("created not UTC", _set("identity.created", "2025-01-31T12:00:00+02:00"), r"identity\.created: .*UTC"),
    ("created naive", _set("identity.created", "2025-01-31T12:00:00"), r"identity\.created: .*UTC"),
    (
        "temperature missing",
        _set("output.calibration.parameters", {}),
        r"output\.calibration: .*temperature",
    ),
    (
        "platt scale zero",
        _set("output.calibration", {"method": "platt", "parameters": {"scale": 0.0, "bias": 0.8}}),
        r"output\.calibration: .*scale a > 0",
    ),
    (
        "platt scale negative",
        _set("output.calibration", {"method": "platt", "parameters": {"scale": -0.8, "bias": 0.8}}),
        r"output\.calibration: .*scale a > 0",
    ),
    (
        "platt bias missing",
        _set("output.calibration", {"method": "platt", "parameters": {"scale": 0.8}}),
        r"output\.calibration: platt calibration needs \{'scale': a > 0, 'bias': b\}",
    ),
    (
        "platt with a temperature",
        _set("output.calibration", {"method": "platt", "parameters": {"temperature": 1.2}}),
        r"output\.calibration: platt calibration needs",
    ),
    (
        "unknown calibration method",
        _set("output.calibration", {"method": "beta", "parameters": {}}),
        r"output\.calibration\.method: Input should be 'platt', 'temperature'",
    ),
    (
        "isotonic bad knots",
        _set("output.calibration", {"method": "isotonic", "parameters": {"x": [0.0, 1.0], "y": [0.5]}}),
        r"output\.calibration: .*equal length",
    ),
    ("no probability output", _set("output.output_names", ["logit"]), r"output\.output_names: .*probability"),
    ("negative count", _set("training.data.counts.val", -1), r"training\.data\.counts\.val: .*greater"),
    (
        "metrics of an input not accepted",
        _set("metrics.by_input", {"png-rgb": card_data()["metrics"]["by_input"]["fits"]}),
        r"metrics\.by_input key 'png-rgb'",
    ),
    ("absolute plot path", _set("plots", {"roc": "/etc/roc.png"}), r"plots: .*relative"),
    ("plot escaping the folder", _set("plots", {"roc": "../roc.png"}), r"plots: .*relative"),
    ("schema version", _set("schema_version", 2), r"schema_version: Input should be 1"),
]


@pytest.mark.parametrize(("why", "edit", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_card_names_the_field_and_the_file(
    tmp_path: Path, why: str, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = copy.deepcopy(card_data())
    edit(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CardError, match=message) as caught:
        ModelCard.load(path)
    assert str(path) in str(caught.value) and caught.value.path == path


@pytest.mark.parametrize(
    "calibration",
    [
        {"method": "platt", "parameters": {"scale": 0.83, "bias": 0.7}},
        {"method": "platt", "parameters": {"scale": 1, "bias": -1}},  # JSON integers are numbers too
        {"method": "temperature", "parameters": {"temperature": 1.2}},
        {"method": "isotonic", "parameters": {"x": [-1.0, 0.0, 2.0], "y": [0.1, 0.5, 0.9]}},
        {"method": "none", "parameters": {}},
    ],
)
def test_calibration_methods_round_trip(calibration: dict[str, Any]) -> None:
    data = card_data()
    data["output"]["calibration"] = calibration
    card = ModelCard.parse(json.dumps(data))
    assert card.output.calibration.model_dump() == calibration


def test_platt_bias_must_be_finite(tmp_path: Path) -> None:
    data = card_data()
    data["output"]["calibration"] = {"method": "platt", "parameters": {"scale": 0.8, "bias": 0.5}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data).replace('"bias": 0.5', '"bias": Infinity'))
    with pytest.raises(CardError, match=r"output\.calibration\.parameters\.bias.*finite"):
        ModelCard.load(path)


def test_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(card_data()).replace('"auc": 0.99', '"auc": NaN'))
    with pytest.raises(CardError, match=r"metrics\.by_input\.fits\.auc: .*finite"):
        ModelCard.load(path)


def test_missing_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"model card .*nope\.json: cannot be read"):
        ModelCard.load(tmp_path / "nope.json")
    bad = tmp_path / "model.json"
    bad.write_text('{"schema_version": 1,')
    with pytest.raises(CardError, match=r"model\.json: is not valid JSON: .*line 1"):
        ModelCard.load(bad)


def test_verify_files_checks_the_onnx_hash_and_plots(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"graph")
    data = card_data(plots={})
    data["identity"]["onnx_sha256"] = file_sha256(tmp_path / "model.onnx")
    card = ModelCard.from_dict(data)
    card.verify_files(tmp_path)  # passes
    (tmp_path / "model.onnx").write_bytes(b"changed")
    with pytest.raises(CardError, match=r"identity\.onnx_sha256: .*changed after export"):
        card.verify_files(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"graph")
    with pytest.raises(CardError, match=r"plots: missing .*roc\.png"):
        ModelCard.from_dict(card_data(identity=data["identity"])).verify_files(tmp_path)


def test_rgb_card_needs_three_bands() -> None:
    data = card_data()
    data["input"].update(bands=["i", "r", "g"], accepts=["png-rgb"])
    data["metrics"]["by_input"] = {"png-rgb:soft": data["metrics"]["by_input"]["fits"]}
    card = ModelCard.from_dict(data)
    assert card.input_spec().bands == ("i", "r", "g")
    data["input"]["bands"] = ["r"]
    with pytest.raises(CardError, match=r"input: .*png-rgb"):
        ModelCard.from_dict(data)
