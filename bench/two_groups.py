"""`bench/run.py --two-groups`: two independent web + worker process groups on one PostgreSQL and Redis.

Group A is the bench's usual gunicorn, daphne and Celery worker; group B is another of each (its own
ports, its own worker name), as a second host would run them. Every agent has one socket on each
group's daphne. Messenger and Twilio webhooks go to both groups' gunicorns in turn, and 10 % of them
are delivered again to the *other* group (a provider retrying against another host behind the load
balancer). Then:

- every acknowledged id is stored exactly once (0 lost, 0 duplicated), whichever group took it and
  whichever worker processed it (both workers consume one queue; one listener leads);
- every socket, on either daphne, gets the message.created frame of every message its agent may see,
  once, and none other (nothing delivered to the wrong socket);
- both workers did work (their CPU over the run).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

from bench import run as common


def bench_two_groups(args, creds: dict, procs, groups: dict[str, dict[str, str]]) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from inbox.models import InboundEvent, Inbox, Message
    from inbox.team.access import conversations_visible_to

    run = uuid.uuid4().hex[:8]
    rng = random.Random(7)
    page = Inbox.objects.get(kind="messenger", external_id=common.PAGE_ID)
    sms = Inbox.objects.get(kind="sms", external_id=common.SMS_NUMBER)
    names = list(groups)
    requests: list[tuple[str, str, tuple[str, bytes, dict]]] = []  # (group, id, request)
    for i in range(args.two_groups_events):
        group = names[i % len(names)]
        if i % 2 == 0:
            mid = f"m_2g_{run}_{i}"
            req = common.meta_request(f"ps2g{run}{rng.randrange(60)}", mid, f"two groups {i}")
        else:
            mid = "SM" + uuid.uuid5(uuid.NAMESPACE_URL, f"{run}{i}").hex
            req = common.twilio_request(f"+1557{rng.randrange(60):07d}", mid, f"two groups {i}")
        requests.append((group, mid, req))
        if rng.random() < 0.1:  # the provider retries against the other group
            other = names[(names.index(group) + 1) % len(names)]
            requests.append((other, mid, req))
    rng.shuffle(requests)
    sessions = list(creds["sessions"].items())
    plan = [(k, sessions[k // len(names)], names[k % len(names)]) for k in range(len(sessions) * len(names))]
    frames: dict[tuple[int, str], int] = {}
    acked: set[str] = set()
    errors: dict[str, int] = {}
    cpu0 = {f"worker{'' if g == names[0] else '2'}": 0.0 for g in names}
    for worker in cpu0:
        cpu0[worker] = procs.cpu_seconds(worker)

    async def main() -> dict:
        import aiohttp

        stop = asyncio.Event()
        last_frame = [time.monotonic()]  # when any socket last received a frame
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def connect(k: int, key: str, group: str):
                ws = await session.ws_connect(f"{groups[group]['ws']}/ws/inbox/",
                                              headers={"Cookie": f"sessionid={key}", "Origin": common.BASE},
                                              heartbeat=None, max_msg_size=0)
                hello = await ws.receive_json(timeout=60)
                assert hello.get("type") == "hello", hello
                return k, ws

            sockets = []
            for i in range(0, len(plan), 25):
                sockets += await asyncio.gather(*(connect(k, key, g) for k, (_, key), g in plan[i:i + 25]))

            async def reader(k: int, ws) -> None:
                while not stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            return
                        continue
                    last_frame[0] = time.monotonic()
                    frame = json.loads(msg.data)
                    if frame.get("type") == "message.created":
                        mid = (frame.get("message") or {}).get("external_id")
                        frames[(k, mid)] = frames.get((k, mid), 0) + 1

            readers = [asyncio.create_task(reader(k, ws)) for k, ws in sockets]
            await common.worker_idle()
            queue = iter(requests)

            async def client() -> None:
                for group, mid, (path, body, headers) in queue:
                    try:
                        async with session.post(groups[group]["web"] + path, data=body, headers=headers) as resp:
                            await resp.read()
                            if resp.status == 200:
                                acked.add(mid)
                            else:
                                errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                    except aiohttp.ClientError as exc:
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

            t = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(8)))
            load_seconds = time.perf_counter() - t
            deadline = time.monotonic() + args.drain_seconds
            while time.monotonic() < deadline:
                if not await asyncio.to_thread(
                        lambda: InboundEvent.objects.filter(dedupe_key__in=list(acked), processed_at=None).exists()):
                    break
                await asyncio.sleep(0.5)
            # The last frames: daphne's fan-out may run behind the worker (hundreds of sockets per
            # event on shared cores), so wait until the sockets have been quiet for 3 s, not a fixed 3 s.
            last_frame[0] = time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - last_frame[0] < 3.0:
                await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*readers)
            await asyncio.gather(*(ws.close() for _, ws in sockets))
        return {"sockets": len(sockets), "requests": len(requests), "load_seconds": round(load_seconds, 2)}

    info = asyncio.run(main())
    procs.sample()
    ids = list(acked)
    stored = dict(Message.objects.filter(inbox__in=[page, sms], external_id__in=ids).values("external_id")
                  .annotate(n=Count("id")).values_list("external_id", "n"))
    conv_of = dict(Message.objects.filter(inbox__in=[page, sms], external_id__in=ids)
                   .values_list("external_id", "conversation_id"))
    user_of = {k: user_id for k, (user_id, _), _ in plan}
    group_of = {k: g for k, _, g in plan}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=set(user_of.values()))}
    conv_ids = list(set(conv_of.values()))
    visible = {uid: set(conversations_visible_to(user).filter(pk__in=conv_ids).values_list("pk", flat=True))
               for uid, user in users.items()}
    missed = leaked = twice = expected = 0
    missed_by_group = {g: 0 for g in names}
    missed_events: dict[str, int] = {}
    for mid, conv in conv_of.items():
        for k, uid in user_of.items():
            got = frames.get((k, mid), 0)
            should = conv in visible[uid]
            expected += should
            if should and not got:
                missed += 1
                missed_by_group[group_of[k]] += 1
                missed_events[mid] = missed_events.get(mid, 0) + 1
            if got and not should:
                leaked += 1
            if got > 1:
                twice += 1
    worker_cpu = {w: round(procs.cpu_seconds(w) - c, 2) for w, c in cpu0.items()}
    figures = {**info, "acknowledged": len(ids), "stored": sum(stored.values()),
               "duplicates": sum(n - 1 for n in stored.values() if n > 1), "lost": len(set(ids) - set(stored)),
               "errors": errors, "deliveries_expected": expected, "missed": missed, "missed_by_group": missed_by_group,
               "events_with_missed_deliveries": len(missed_events),
               "missed_by_event_sample": dict(sorted(missed_events.items())[:10]),
               "delivered_to_sockets_that_may_not_see": leaked, "delivered_twice_to_a_socket": twice,
               "worker_cpu_seconds": worker_cpu,
               "groups": {g: {k: v for k, v in urls.items()} for g, urls in groups.items()}}
    met = (figures["duplicates"] == 0 and figures["lost"] == 0 and not errors and missed == 0 and leaked == 0
           and twice == 0 and all(v > 0 for v in worker_cpu.values()))
    return [{"name": "two_groups", "figures": figures,
             "target": "two web+worker groups on one PostgreSQL and Redis: 0 lost, 0 duplicated, every socket gets "
                       "what its agent may see once and nothing else, both workers working", "met": met}]
