"""`make bench`'s realtime step: webhook → every agent's socket, against the realtime floor.

Every agent's socket is connected to `/ws/inbox/` (as a browser would, with the agent's session).
First the realtime floor: `/bench/floor/realtime/` `group_send`s a frame on receipt to groups that
reach every one of those sockets (the agents' team groups), with no processing; then real Messenger
webhooks (half to existing threads, half from new people), each reaching the agents who may see
its conversation. Latency runs from the POST to each socket's frame. Then, for the first run only,
every socket closes at once and reconnects at once (a reconnect storm): each must get its hello.

- run 1: one socket per agent (200 on the full database), on one daphne process;
- run 2: `--realtime-sockets` (1,000) sockets, several per agent (tabs), spread over every daphne
  process the bench started (two): each socket must receive every event its agent may see and
  nothing else, whichever process holds it; the daphnes' resident memory per socket is reported.

Target: the webhook → socket p95 <= 2 x the floor's p95 in the same run, nothing missed or leaked.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from pathlib import Path

from bench import run as common

TARGET_VS_FLOOR = 2.0


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cover_groups() -> list[str]:
    """Groups that reach every agent's socket: their teams' (and the user group of an agent in none)."""
    from inbox.models import Agent

    groups = set()
    for agent in Agent.objects.filter(user__username__startswith="agent").prefetch_related("teams"):
        teams = [t.pk for t in agent.teams.all()]
        groups |= {f"team-{t}" for t in teams} if teams else {f"user-{agent.user_id}"}
    return sorted(groups)


def bench_realtime(args, creds: dict, procs, ws_bases: list[str], daphnes: list[str]) -> list[dict]:
    rows = [_run(args, creds, procs, ws_bases[:1], daphnes[:1], per_agent=1, storm=True, name="realtime_fanout")]
    agents = len(creds["sessions"])
    if args.realtime_sockets > agents:
        rows.append(_run(args, creds, procs, ws_bases, daphnes, per_agent=math.ceil(args.realtime_sockets / agents),
                         storm=False, name="realtime_fanout_many", total=args.realtime_sockets))
    return rows


def _run(args, creds: dict, procs, ws_bases: list[str], daphnes: list[str], *, per_agent: int, storm: bool, name: str,
         total: int | None = None) -> dict:
    from django.contrib.auth import get_user_model

    from inbox.models import Conversation, Identity, Inbox, Message
    from inbox.team.access import conversations_visible_to

    page = Inbox.objects.get(kind="messenger", external_id=common.PAGE_ID)
    existing = list(Identity.objects.filter(channel="messenger", scope=common.PAGE_ID, external_id__startswith="ps")
                    .exclude(external_id__startswith="psbench").values_list("external_id", flat=True)[:50])
    run = uuid.uuid4().hex[:8]
    events = []
    for i in range(args.realtime_events):
        # Half to existing threads (assigned agents, team), half from new people (new conversations).
        psid = existing[i % len(existing)] if i % 2 == 0 and existing else f"psrt{run}{i}"
        mid = f"m_rt_{run}_{i}"
        events.append((mid, common.meta_request(psid, mid, f"realtime {i}")))
    floors = [f"floor-{run}-{i}" for i in range(args.realtime_events)]
    groups = cover_groups()
    sessions = list(creds["sessions"].items())
    # Socket k: agent k % agents, on daphne k % processes (several tabs per agent when per_agent > 1).
    plan = [(k, sessions[k % len(sessions)], ws_bases[k % len(ws_bases)])
            for k in range(total or len(sessions) * per_agent)]
    received: dict[str, dict[int, float]] = {key: {} for key in [m for m, _ in events] + floors}
    sent_at: dict[str, float] = {}

    async def main() -> dict:
        import aiohttp

        stop = asyncio.Event()
        await common.closed_loop([common.meta_request(f"psrtwarm{run}{i}", f"m_rtwarm_{run}_{i}", "warm-up")
                                  for i in range(3 * common.WARM_UP_PER_PROCESS)], args.concurrency, 30)
        memory_before = {d: rss_kib(procs.procs[d].pid) for d in daphnes}
        async with aiohttp.ClientSession(common.BASE, connector=aiohttp.TCPConnector(limit=0)) as session:

            async def connect(socket_id: int, key: str, base: str):
                ws = await session.ws_connect(f"{base}/ws/inbox/", headers={"Cookie": f"sessionid={key}",
                                                                             "Origin": common.BASE},
                                              heartbeat=None, max_msg_size=0)
                hello = await ws.receive_json(timeout=60)
                assert hello.get("type") == "hello", hello
                return socket_id, ws

            t = time.perf_counter()
            sockets = []
            for i in range(0, len(plan), 25):
                sockets += await asyncio.gather(*(connect(k, key, base) for k, (_, key), base in plan[i:i + 25]))
            connect_seconds = time.perf_counter() - t

            async def reader(socket_id: int, ws) -> None:
                while not stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            return
                        continue
                    now = time.perf_counter()
                    frame = json.loads(msg.data)
                    kind = frame.get("type")
                    key = frame.get("id") if kind == "bench.floor" else (
                        (frame.get("message") or {}).get("external_id") if kind == "message.created" else None)
                    if key in received and socket_id not in received[key]:
                        received[key][socket_id] = now

            readers = [asyncio.create_task(reader(k, ws)) for k, ws in sockets]
            await asyncio.sleep(1.0)
            memory_after = {d: rss_kib(procs.procs[d].pid) for d in daphnes}
            settle_seconds = await common.worker_idle()
            cpu_floor0 = sum(procs.cpu_seconds(d) for d in daphnes)
            # The floor first, then the webhooks, both at the same pace.
            for key in floors:
                sent_at[key] = time.perf_counter()
                async with session.post("/bench/floor/realtime/", json={"id": key, "groups": groups}) as resp:
                    await resp.read()
                await asyncio.sleep(args.realtime_gap)
            cpu_events0 = sum(procs.cpu_seconds(d) for d in daphnes)
            for mid, (path, body, headers) in events:
                sent_at[mid] = time.perf_counter()
                async with session.post(path, data=body, headers=headers) as resp:
                    await resp.read()
                await asyncio.sleep(args.realtime_gap)
            await asyncio.sleep(5.0)
            cpu_end = sum(procs.cpu_seconds(d) for d in daphnes)
            stop.set()
            await asyncio.gather(*readers)
            await asyncio.gather(*(ws.close() for _, ws in sockets))
            out = {"sockets": len(sockets), "daphne_processes": len(ws_bases), "connect_seconds": round(connect_seconds, 2),
                   "settle_seconds": settle_seconds,
                   "memory_kib_per_socket": round(sum(memory_after[d] - memory_before[d] for d in daphnes)
                                                  / max(1, len(sockets)), 1),
                   "daphne_rss_mib": {d: round(memory_after[d] / 1024, 1) for d in daphnes},
                   "daphne_cpu_seconds": {"floor": round(cpu_events0 - cpu_floor0, 2),
                                          "events": round(cpu_end - cpu_events0, 2)}}
            if storm:
                # A reconnect storm (daphne restarted, every browser back at once): each must get its hello.
                t = time.perf_counter()
                again = await asyncio.gather(*(connect(k, key, base) for k, (_, key), base in plan), return_exceptions=True)
                storm_seconds = time.perf_counter() - t
                back = [r for r in again if not isinstance(r, BaseException)]
                await asyncio.gather(*(ws.close() for _, ws in back))
                out["storm"] = {"sockets": len(plan), "connected": len(back), "seconds": round(storm_seconds, 2),
                                "failed": len(again) - len(back)}
            return out

    info = asyncio.run(main())
    procs.sample()
    # Who may see each message, by the same rule the API uses; a socket may see what its agent may.
    conv_of = dict(Message.objects.filter(inbox=page, external_id__in=[m for m, _ in events])
                   .values_list("external_id", "conversation_id"))
    user_of = {k: user_id for k, (user_id, _), _ in plan}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=set(user_of.values()))}
    conv_ids = list(set(conv_of.values()))
    visible = {uid: set(conversations_visible_to(user).filter(pk__in=conv_ids).values_list("pk", flat=True))
               for uid, user in users.items()}
    latencies, missed, leaked, expected = [], 0, 0, 0
    for mid, conv in conv_of.items():
        should = {k for k, uid in user_of.items() if conv in visible[uid]}
        got = received[mid]
        expected += len(should)
        missed += len(should - set(got))
        leaked += len(set(got) - should)
        latencies += [got[k] - sent_at[mid] for k in should & set(got)]
    floor_latencies, floor_missed = [], 0
    for key in floors:
        got = received[key]
        floor_missed += len(user_of) - len(got)
        floor_latencies += [at - sent_at[key] for at in got.values()]
    floor = {**common.ms(floor_latencies), "deliveries": len(floor_latencies),
             "deliveries_expected": len(floors) * len(user_of), "missed": floor_missed, "groups": groups}
    figures = {**info, "events": len(events), "deliveries_expected": expected, "deliveries": len(latencies),
               "missed": missed, "leaked_to_agents_who_may_not_see": leaked,
               "events_not_stored": len(events) - len(conv_of), **common.ms(latencies), "floor": floor,
               "conversations": Conversation.objects.filter(pk__in=conv_ids).count()}
    p95, floor_p95 = figures["p95_ms"], floor["p95_ms"]
    figures["vs_floor_p95"] = round(p95 / floor_p95, 2) if p95 and floor_p95 else None
    cpu = figures["daphne_cpu_seconds"]
    # What one frame costs the daphne processes per socket it reaches (idle sockets' renewals included).
    figures["daphne_cpu_ms_per_delivery"] = {
        "floor": round(cpu["floor"] / len(floor_latencies) * 1000, 3) if floor_latencies else None,
        "events": round(cpu["events"] / len(latencies) * 1000, 3) if latencies else None}
    met = bool(figures["vs_floor_p95"] is not None and figures["vs_floor_p95"] <= TARGET_VS_FLOOR and missed == 0
               and leaked == 0 and figures["events_not_stored"] == 0 and floor_missed == 0
               and not (figures.get("storm") or {}).get("failed"))
    target = (f"p95 webhook -> message.created at every socket that may see it <= {TARGET_VS_FLOOR} x the realtime "
              "floor's p95; nothing missed or leaked" + ("; a reconnect storm all back" if storm else
                                                         f"; sockets spread over {len(ws_bases)} daphne processes"))
    return {"name": name, "figures": figures, "target": target, "met": met}
