"""REPORT.md's headline (repro/report/headline.py): the one status rule, the table and stories it
renders, the README's copy of it (links relative to the repository root), and the committed README
showing exactly the committed REPORT.md's headline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from repro.report.headline import (END, NO_DATA, NOT_YET, OWED_TO_GPU, START, EraHeadline, HeadlineRow, Story,
                                   current_block, readme_block, refresh_readme, replace_block, section,
                                   section_of_report, stated_precision, status)

ROOT = Path(__file__).resolve().parents[3]


def row(published="5.0", values=(), **kw) -> HeadlineRow:
    return HeadlineRow("paper: test error %", "paper, 5.3", published, tuple(values), **kw)


def test_stated_precision_is_half_a_unit_of_the_last_digit():
    assert stated_precision("5.0") == pytest.approx(0.05)
    assert stated_precision("0.14") == pytest.approx(0.005)
    assert stated_precision("2.5e-3") == pytest.approx(0.00005)
    assert stated_precision("26") == pytest.approx(0.5)
    assert stated_precision("102") == pytest.approx(0.5)


def test_reproduced_within_two_standard_errors():
    r = row("5.0", (5.2, 5.5, 4.9))  # mean 5.2, sd 0.3, SE 0.173: 0.2 is 1.15 SE
    assert status(r) == "reproduced"
    r = row("5.0", (5.6, 5.7, 5.8))  # mean 5.7, sd 0.1, SE 0.058: 0.7 is 12 SE
    assert status(r) == "gap (no cause on record)"


def test_a_single_published_run_counts_its_own_spread():
    """Against one published run the difference's SE is sd*sqrt(1 + 1/n), not sd/sqrt(n) (issue 43)."""
    values = (3.7, 3.9, 4.0, 4.1, 4.25)  # mean 3.99, sd 0.207, n 5
    mean_only = row("4.38", values)  # 0.39 is 4.2 SE of a mean: a gap
    single = row("4.38", values, single_run=True)  # 0.39 is 1.7 of sd*sqrt(1.2) = 0.227: reproduced
    assert status(mean_only).startswith("gap") and status(single) == "reproduced"
    assert single.se == pytest.approx(single.sd * (1 + 1 / 5) ** 0.5)
    assert mean_only.se == pytest.approx(mean_only.sd / 5 ** 0.5)
    assert status(row("4.38", (3.2, 3.3, 3.25), single_run=True)).startswith("gap")  # 1.13 is 18 of 0.058
    # The stated-precision clause still holds for one seed, single run or not.
    assert status(row("26", (25.81,), single_run=True)) == "reproduced"


def test_reproduced_within_the_stated_precision_even_with_one_seed():
    assert status(row("26", (25.81,))) == "reproduced"  # |−0.19| ≤ 0.5
    assert status(row("26", (25.4,))) == "gap (no cause on record)"  # 0.6 > 0.5, and one seed has no SE
    # Identical seeds (sd 0) are judged by the precision alone.
    assert status(row("5.0", (5.04, 5.04))) == "reproduced"
    assert status(row("5.0", (5.1, 5.1))).startswith("gap")


def test_a_gap_names_the_era_cause():
    assert status(row("0.14", (0.33, 0.37, 0.40), cause="plain SGD")) == "gap: plain SGD"


def test_shortened_comes_before_the_comparison():
    assert status(row("18", (18.0,), shortened="30 passes")) == "shortened"
    assert status(row("18", (23.0,), shortened="30 passes")) == "shortened"


def test_a_row_without_values_takes_the_era_reason():
    assert status(row()) == NOT_YET
    assert status(row(missing=OWED_TO_GPU)) == OWED_TO_GPU
    assert status(row(missing=NO_DATA)) == NO_DATA
    with pytest.raises(ValueError, match="missing must be one of"):
        row(missing="later")
    with pytest.raises(ArithmeticError):
        row(published="six")


def test_section_renders_rows_in_era_order_with_stories():
    later = EraHeadline(2012, rows=[row("26", (25.81,), data="CIFAR-10", hardware="cpu", link="b/t.md")])
    earlier = EraHeadline(1989, rows=[row("5.0", (5.6, 5.7, 5.8), cause="[SGD](../a/README.md#x)")],
                          stories=[Story("a/abl.md", "abl", "best 2.54%")])
    md = section([later, earlier])
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("| paper")]
    assert table == [
        "| paper: test error % | paper, 5.3 | 5.0 | 5.70 ± 0.10 (3 seeds) | +0.70 (+12.1 SE) | — | "
        "gap: [SGD](../a/README.md#x) |",
        "| paper: test error % | paper, 5.3 | 26 | [25.81 (1 seed)](b/t.md) | -0.19 | CIFAR-10 · cpu | reproduced |",
    ]
    assert "- [abl](a/abl.md): best 2.54%" in lines
    assert "within 2 standard errors" in md and "stated precision" in md
    assert section([EraHeadline(1989)]) == ""
    missing = section([EraHeadline(1, rows=[row(missing=OWED_TO_GPU, note="`bash bench/x.sh`")])])
    assert "| — (`bash bench/x.sh`) | — | — | owed to a GPU |" in missing


def test_readme_block_links_from_the_repository_root():
    text = ("## Published numbers beside ours\n\n[t](lecun1989/baseline.md) [r](../lecun1989/README.md#faith) "
            "[w](https://example.org/a) [a](#top)\n\n### The ablations at a glance\n")
    block = readme_block(text)
    assert block.startswith(START + "\n\n### Published numbers beside ours") and block.endswith("\n\n" + END)
    assert "[t](results/lecun1989/baseline.md)" in block and "[r](lecun1989/README.md#faith)" in block
    assert "[w](https://example.org/a)" in block and "[a](#top)" in block
    assert "#### The ablations at a glance" in block


def test_replace_block_keeps_the_rest_and_refuses_a_readme_without_markers(tmp_path):
    readme = f"# x\n\n## Results\n\n{START}\nold\n{END}\n\nlinks\n"
    new = replace_block(readme, readme_block("## Published numbers beside ours\n\nnew\n"))
    assert new.startswith("# x\n\n## Results\n\n" + START) and new.endswith(END + "\n\nlinks\n") and "old" not in new
    assert current_block(new) == readme_block("## Published numbers beside ours\n\nnew\n")
    with pytest.raises(ValueError, match="no headline markers"):
        replace_block("# x\n", "b")
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    assert refresh_readme(path, "## Published numbers beside ours\n") is False and path.read_text() == "# no markers\n"
    path.write_text(readme)
    assert refresh_readme(path, "## Published numbers beside ours\n\nnew\n") is True and "new" in path.read_text()


def test_section_of_report_stops_at_the_next_section():
    md = ("# t\n\nintro\n\n## Published numbers beside ours\n\nrows\n\n### The ablations\n\n- a\n\n"
          "## lecun1989/\n\n- x\n")
    assert section_of_report(md) == "## Published numbers beside ours\n\nrows\n\n### The ablations\n\n- a\n\n"
    assert section_of_report("# t\n") == ""


def test_the_committed_readme_shows_the_committed_headline():
    """README's Results block is REPORT.md's headline, as `repro report` writes it (rerun it when this fails)."""
    report = (ROOT / "results" / "REPORT.md").read_text()
    head = section_of_report(report)
    assert head and "| LeCun 1989: test error % |" in head and "ILSVRC-2012" in head
    assert current_block((ROOT / "README.md").read_text()) == readme_block(head), (
        "README.md's headline block differs from results/REPORT.md's: run `repro report`")


def test_readme_links_stay_inside_the_repository():
    """A newcomer's clone has every file the README links to, and nothing outside it is pointed at."""
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert len(local) > 10
    outside = [t for t in local if not (ROOT / t).resolve().is_relative_to(ROOT.resolve())]
    assert not outside, f"README.md points outside the repository: {outside}"
    absent = [t for t in local if not (ROOT / t).exists()]
    assert not absent, f"README.md links to files that are not in the repository: {absent}"
    assert "../shared" not in text.replace("REPRO_DATA_ROOT=../shared/data", "")
