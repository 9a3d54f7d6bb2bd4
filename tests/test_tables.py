"""Tables (gradflow info, check, gf.nn.summary): aligned whatever the cells, brackets kept."""

import sys

import gradflow as gf
from gradflow import extras
from gradflow.tables import render


def _widths(text):
    return {len(line) for line in text.splitlines() if line[:1] in "┏┃┡│└"}


def test_columns_align_whatever_the_length_of_names():
    text = render(["name", "value"], [["a", "1"], ["a" * 57, "[not markup]"]], right=(1,))
    assert len(_widths(text)) == 1 and "[not markup]" in text


def test_info_table_is_aligned(capsys):
    gf.info()
    out = capsys.readouterr().out
    assert len(_widths(out)) == 1 and "device strict:device1" in out


def test_without_rich_rows_are_tab_separated_after_one_note(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setattr(extras, "_said", set())
    assert render(["a", "b"], [[1, 2]]) == "a\tb\n1\t2"
    render(["a"], [])
    assert capsys.readouterr().err.count("'tables' extra") == 1
