"""results/REPORT.md links each era's searches (results/<era>/search/*.md, written by a search script
such as lecun1989/budget_search.py) in their own section, never as a table whose records went missing."""

from repro.report.index import write_index


def test_searches_are_linked_in_their_own_section(tmp_path):
    (tmp_path / "lecun1989" / "search").mkdir(parents=True)
    (tmp_path / "lecun1989" / "search" / "budget_search.md").write_text("# search\n")
    table = tmp_path / "lecun1989" / "baseline.md"
    table.write_text("# table\n")
    text = write_index(tmp_path, [table]).read_text()
    assert "## Searches" in text
    assert "- [lecun1989/budget_search.md](lecun1989/search/budget_search.md)\n" in text
    assert "kept from an earlier report" not in text


def test_no_section_without_searches(tmp_path):
    assert "## Searches" not in write_index(tmp_path, []).read_text()
