"""Records keep named fields; tables show them under words (helpers.notebook.columns)."""

from helpers.notebook import columns


def test_a_table_of_records_shows_every_known_field_under_its_heading():
    rows = [{"model": "yolov8n", "int8_mAP50": 0.88, "cls_share_at_0_5": 0.0, "config": "x"},
            {"model": "yolo11n", "int8_mAP50": 0.87, "cls_share_at_0_5": 0.1, "config": "y"}]
    df = columns.frame(rows, index="model", drop=["config"])
    assert list(df.columns) == ["INT8 mAP50", "share of class scores at 0.5"]
    assert df.index.name == "model" and df.loc["yolo11n", "INT8 mAP50"] == 0.87


def test_a_dict_of_columns_is_headed_on_its_index_too_and_unknown_fields_keep_their_name():
    side = {"relu": {"float_mAP50": 0.9, "odd_field": 1}, "silu": {"float_mAP50": 0.8, "odd_field": 2}}
    df = columns.frame(side)
    assert list(df.index) == ["float mAP50", "odd_field"] and list(df.columns) == ["relu", "silu"]
    assert list(columns.frame(side, transpose=True).columns) == ["float mAP50", "odd_field"]


def test_every_heading_is_words_and_every_field_a_name():
    for field, words in columns.HEADINGS.items():
        assert field.isidentifier(), field
        assert words != field and len(set(columns.HEADINGS.values())) == len(columns.HEADINGS), words


def test_a_multiindex_is_headed_per_element_and_per_level_name():
    import pandas as pd

    df = pd.DataFrame([{"model": "relu", "toolkit": "2.5.0", "int8_mAP50": 0.88}]).set_index(["model", "toolkit"])
    df = columns.headed(df.rename(columns={"int8_mAP50": "float_mAP50"}).T)
    assert list(df.index) == ["float mAP50"] and list(df.columns) == [("relu", "2.5.0")]
    assert list(df.columns.names) == ["model", "toolkit"]
    wide = columns.headed(pd.DataFrame({("float_mAP50", "x"): [1]}))
    assert list(wide.columns) == [("float mAP50", "x")]


def test_headline_figures_are_shown_in_words():
    from helpers.notebook.columns import figure, headline_label

    assert figure(0.99998) == "0.99998" and figure(9.1552734375e-05) == "9.16e-05" and figure(True) == "yes"
    assert figure({"1": 1.09, "2": 1.096}) == "1 1.09; 2 1.096" and figure([0.8115, 0.9116]) == "0.8115, 0.9116"
    assert figure(None) == "-" and figure(0.0) == "0"
    assert headline_label("relu_silu_count") == "SiLU layers left in the ReLU model"
    assert headline_label("ship_mAP50_95") == "ship mAP50-95"  # no entry: the field, readable
