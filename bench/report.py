"""The figures as results.json entries, as a printed table, and the file itself."""
from __future__ import annotations

import json

from bench.endpoints import Endpoint
from bench.harness import ROOT, Figures

RESULTS_PATH = ROOT / "bench" / "results.json"


def result(endpoint: Endpoint, figures: list[Figures], statements: list[str] | None) -> dict:
    """Return one endpoint's entry of results.json."""
    if endpoint.project is None:
        [bare] = figures
        return {**rounded(bare), "ratio": None, "errors": bare.errors}
    project, bare = figures[0], figures[1]
    row = {
        **rounded(project),
        "ratio": round(project.rps / bare.rps, 4),
        **{f"bare_{key}": value for key, value in rounded(bare).items()},
    }
    if endpoint.versus_insert:
        insert = figures[2]
        row |= {"insert_rps": round(insert.rps, 1), "insert_ratio": round(project.rps / insert.rps, 4)}
    return row | {"sql_statements": len(statements), "errors": sum(f.errors for f in figures)}


def rounded(figures: Figures) -> dict[str, float]:
    """Round the figures to what the measurement can tell apart."""
    return {"rps": round(figures.rps, 1), "p50_ms": round(figures.p50_ms, 2), "p95_ms": round(figures.p95_ms, 2)}


def print_table(results: dict[str, dict]) -> None:
    """Print the figures as a table."""
    print(f"\n{'endpoint':<16}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'bare rps':>10}{'ratio':>8}"
          f"{'insert rps':>12}{'vs insert':>11}{'SQL':>5}")
    for name, row in results.items():
        bare_rps = f"{row['bare_rps']:.1f}" if "bare_rps" in row else "—"
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "—"
        insert_rps = f"{row['insert_rps']:.1f}" if "insert_rps" in row else "—"
        insert_ratio = f"{row['insert_ratio']:.3f}" if "insert_ratio" in row else "—"
        statements = str(row.get("sql_statements", "—"))
        print(f"{name:<16}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{bare_rps:>10}{ratio:>8}"
              f"{insert_rps:>12}{insert_ratio:>11}{statements:>5}")


def write_results(results: dict[str, dict]) -> None:
    """Write the results to bench/results.json."""
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
