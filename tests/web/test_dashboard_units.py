"""The dashboard's pure helpers, run in the browser that runs the page: label spreading, ANSI, argv splitting."""

from __future__ import annotations

import itertools
import random
from typing import Any


async def test_label_spreading_ansi_and_argv_splitting(daemon: Any, open_dashboard: Any) -> None:
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.page.goto(dash.base + "/login")  # a page of this origin; the modules are static assets
    rng = random.Random(7)
    for _ in range(50):
        wanted = [rng.uniform(0, 300) for _ in range(rng.randint(1, 12))]
        placed = await dash.page.evaluate(
            "w => import('/static/js/svg.js').then(m => m.spreadLabels(w, 14, 10, 400))", wanted
        )
        ordered = sorted(placed)
        assert all(b - a >= 14 - 1e-9 for a, b in itertools.pairwise(ordered)), (wanted, placed)
        assert all(10 - 1e-9 <= y <= 400 + 1e-9 for y in placed)
        # Labels keep the order of their points.
        by_wanted = [p for _, p in sorted(zip(wanted, placed, strict=True))]
        assert by_wanted == sorted(by_wanted)
    html = await dash.page.evaluate(
        """() => import('/static/js/ansi.js').then(m => {
             const st = m.newState();
             return [m.ansiLine('a\\x1b[1;31mred<b>\\x1b[0m plain', st), m.ansiLine('\\x1b[38;5;21mx', st),
                     m.ansiLine('still', st), m.stripAnsi('\\x1b[2K\\x1b[32mok\\x1b[0m')];
           })"""
    )
    assert html[0] == 'a<span class="ab" style="color:var(--a1)">red&lt;b&gt;</span> plain'
    assert html[1] == '<span style="color:rgb(0,0,255)">x</span>'
    assert html[2] == '<span style="color:rgb(0,0,255)">still</span>'  # colour state carries to the next line
    assert html[3] == "ok"
    argv = await dash.page.evaluate(
        """() => import('/static/js/util.js').then(m => m.splitArgs(`sh -c 'echo "a b"; ls' x\\\\ y ""`))"""
    )
    assert argv == ["sh", "-c", 'echo "a b"; ls', "x y", ""]
    err = await dash.page.evaluate(
        "s => import('/static/js/util.js').then(m => { try { m.splitArgs(s); } catch (e) { return e.message; } })",
        "echo 'open",
    )
    assert "unclosed" in err
    await dash.shot("login")
