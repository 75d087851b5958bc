"""A pipeline whose steps run on both nodes: `placement:` per step (command and agent steps)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .conftest import Cluster, node_of
from .helpers import daemon

PIPELINE = """
name: spread
phases:
  - name: build
    steps:
      - name: on_b
        command: [sh, -c, "echo b > b.txt"]
        placement: {{on: ray, resources: {{node_b: 1}}}}
      - name: on_head
        command: [sh, -c, "echo head > head.txt"]
        placement: {{on: ray, node: "{head}"}}
      - name: agent_b
        agent:
          cli: custom
          argv: [sh, -c, 'echo "$1" > agent.txt', agent, "{{prompt}}"]
          prompt: "write {{requirement}}"
        placement: {{on: ray, resources: {{node_b: 1}}}}
      - name: here
        command: [sh, -c, "echo here > here.txt"]
    checks:
      - name: files
        kind: files_exist
        paths: [b.txt, head.txt, agent.txt, here.txt]
        owners: [on_b, on_head, agent_b, here]
"""


async def test_a_pipeline_runs_its_steps_on_the_nodes_each_step_names(node_b: Cluster, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    async with daemon(tmp_path / "home", node_b.address) as ex:
        nodes = await ex.cluster_nodes()
        b = node_of(nodes, "node_b")
        head = next(n["node_id"] for n in nodes if n["alive"] and "node_b" not in n["resources"])
        (work / "pipeline.yaml").write_text(textwrap.dedent(PIPELINE.format(head=head)))
        run = await ex.pipelines.run(path=str(work / "pipeline.yaml"), requirement="a poem", workdir=str(work))
        assert (await ex.pipelines.wait(run["id"], timeout=180))["state"] == "passed"
        assert (work / "agent.txt").read_text() == "write a poem\n"
        status = await ex.pipelines.status(run["id"])
        steps = {s["step"]: s for s in status["phases"][0]["iterations"][0]["steps"]}
        where = {name: ex.task_info(s["tasks"][0])["meta"].get("node") for name, s in steps.items()}
        assert where == {"on_b": b, "on_head": head, "agent_b": b, "here": None}
        assert ex.task_info(steps["agent_b"]["tasks"][0])["kind"] == "agent"
