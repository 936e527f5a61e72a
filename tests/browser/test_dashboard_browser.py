"""A new user's path through the dashboard in chromium: sign in with a test key, add a carrier account and a
webhook endpoint, create an agent (its variables detected as they are typed), place a sandbox call, watch it
go live and complete without a reload, hear its recording, read its transcript and redeliver its webhook.
Then the walls: another partner and the other mode see none of it."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.browser.conftest import HookReceiver
from tests.integration.telephony.conftest import CREDS, LiveServer
from voxline.accounts import partners
from voxline.core import keys
from voxline.devtools.callee_voice import line
from voxline.sandbox.callee import Script
from voxline.webhooks import verify

CALLEE = "+919813300042"


async def new_partner(server: LiveServer, mode: str = keys.TEST) -> partners.IssuedKey:
    limits = partners.Limits(concurrency=5, sandbox_concurrency=5)
    issued = await partners.create_partner(server.ctx, f"web-{uuid.uuid4().hex[:10]}", limits)
    if mode == keys.TEST:
        issued = await partners.create_key(server.ctx, issued.partner_id, keys.TEST)
    return issued


async def sign_in(page, base: str, api_key: str) -> None:  # noqa: ANN001
    await page.goto(base + "/")
    assert page.url == base + "/signin?next=/calls"
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/calls")


async def wait_until(check, what: str, timeout: float = 30.0) -> None:  # noqa: ANN001, ASYNC109
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_sign_in_create_an_agent_place_a_call_watch_it_hear_it_and_redeliver_its_webhook(
    dashboard_server: LiveServer, open_page, hook_receiver: HookReceiver
):
    base = dashboard_server.base_url
    issued = await new_partner(dashboard_server)
    page = await open_page()
    await sign_in(page, base, issued.api_key)
    assert await page.locator("[data-mode]").inner_text() == "Test mode"

    # A carrier account for the sandbox (the emulator checks its shape only); its secret is never shown back.
    await page.get_by_role("link", name="Telephony").click()
    await page.get_by_role("link", name="twilio").click()
    for field, value in CREDS["twilio"].items():
        await page.locator(f"#f-{field}").fill(value)
    await page.get_by_role("button", name="Save connection").click()
    await page.wait_for_url(base + "/connections")
    assert "+14155551234" in await page.content() and CREDS["twilio"]["auth_token"] not in await page.content()

    # A webhook endpoint: its signing secret is shown once, on the page that created it.
    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_label("Label").fill("crm")
    await page.get_by_label("URL").fill(hook_receiver.url)
    await page.get_by_role("button", name="Add endpoint").click()
    secret = await page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    await page.reload()
    assert secret not in await page.content()

    # An agent; the variables its texts use show up while typing.
    await page.get_by_role("link", name="Agents").click()
    await page.get_by_role("link", name="New agent").click()
    await page.get_by_label("Name").fill("Clinic reminder")
    await page.get_by_label("Prompt").fill("You remind {{callee_name}} of the visit at {{ time }}.")
    await page.get_by_label("Greeting").fill("Hello {{callee_name}}!")
    assert await page.locator("#detected-variables").inner_text() == "callee_name time"
    await page.get_by_label("Record calls").check()
    await page.get_by_role("button", name="Create agent").click()
    await page.wait_for_url(f"{base}/agents/*")
    agent_url = page.url

    # The calls list, open in a second tab, will see the call appear and finish by itself.
    watcher = await page.context.new_page()
    await watcher.goto(base + "/calls")
    await watcher.evaluate("window.__loadedOnce = true")

    # Place the call from the agent page; the sandbox callee answers, talks and hangs up.
    said = line("Yes, that works.").pcm8k.tobytes()
    dashboard_server.sandbox["twilio"].scripts[CALLEE] = Script("human", talk_secs=6.0, lines=(said,))
    await page.get_by_role("textbox", name="Number").fill(CALLEE)
    await page.get_by_label("callee_name").fill("Asha")
    await page.get_by_label("time").fill("10:00")
    await page.get_by_role("button", name="Call", exact=True).click()
    await page.wait_for_url(f"{base}/calls/*")
    await page.evaluate(
        """() => {
            window.__seen = [document.getElementById('call-status').textContent];
            new MutationObserver(() => {
                const s = document.getElementById('call-status');
                if (s && window.__seen[window.__seen.length - 1] !== s.textContent) window.__seen.push(s.textContent);
            }).observe(document.getElementById('call-live'), {subtree: true, childList: true, characterData: true});
        }"""
    )
    await page.locator("ol.transcript").wait_for(timeout=45_000)  # swapped in once the session is filed
    seen = await page.evaluate("window.__seen")
    assert seen[-1] == "completed" and "in progress" in seen, seen
    bot_lines = await page.locator(".turn-bot .said").all_inner_texts()
    assert bot_lines and bot_lines[0] == "Hello Asha!", bot_lines
    assert await page.locator(".turn-user .said").all_inner_texts() == ["Yes, that works."]
    assert await page.locator(".turn .latency").count() >= 1  # per-turn latency is shown
    assert await page.evaluate(LOW_CONTRAST) == []  # statuses, transcript turns, the mode badge: all readable

    # The list in the other tab followed it without a reload.
    row = watcher.locator("tr[data-call-id] [data-status]").first
    await wait_until(lambda: _text_is(row, "completed"), "the list's row to say completed")
    assert await watcher.evaluate("window.__loadedOnce === true")

    # The recording plays in the page's player: it loads and its time advances.
    audio = page.locator("audio#recording")
    await audio.wait_for()
    await page.evaluate(
        "async () => { const a = document.getElementById('recording'); a.muted = true; await a.play(); }"
    )
    await wait_until(
        lambda: page.evaluate("document.getElementById('recording').currentTime > 0.3"), "the recording to play"
    )
    assert await page.evaluate("document.getElementById('recording').duration") > 1.0

    # The webhook was delivered (signed with the secret shown once); redeliver it from the call page.
    await wait_until(lambda: _has(hook_receiver, 1), "the session.completed delivery")
    await wait_until(lambda: _reload_shows(page, "[data-delivery-status]", "delivered"), "the delivery to show")
    await page.get_by_role("button", name="Redeliver to crm").click()
    await wait_until(lambda: _has(hook_receiver, 2), "the redelivery")
    (first_headers, first_body), (again_headers, again_body) = hook_receiver.received[:2]
    event = verify(secret, again_headers, again_body)
    assert event["event"] == "session.completed" and event["data"]["variables"]["callee_name"] == "Asha"
    assert again_headers["X-Webhook-Id"] == first_headers["X-Webhook-Id"]
    await wait_until(lambda: _reload_shows(page, "[data-delivery-status]", "delivered"), "the redelivery to show")
    assert await page.locator("[data-attempts]").inner_text() == "2"

    call_url = page.url.split("#")[0]

    # "Talk to it" starts a browser session as this key and opens its join page; the single-use token rides in
    # the URL fragment, which the page then wipes from the address bar. (The conversation itself over WebRTC
    # is tests/browser/test_browser_call.py.)
    await page.goto(agent_url)
    await page.get_by_role("button", name="Talk to it").click()
    await page.wait_for_url(f"{base}/talk/*")
    await page.get_by_role("button", name="Start talking").wait_for()
    await wait_until(lambda: page.evaluate("!location.hash.includes('token=')"), "the token to leave the address bar")

    # Another partner, signed in elsewhere, gets 404 for this call and this agent and lists none of it.
    other = await new_partner(dashboard_server)
    stranger = await open_page()
    await sign_in(stranger, base, other.api_key)
    assert (await stranger.goto(call_url)).status == 404
    assert (await stranger.goto(agent_url)).status == 404
    await stranger.goto(base + "/calls")
    assert await stranger.locator("tr[data-call-id]").count() == 0


async def _text_is(locator, expected: str) -> bool:  # noqa: ANN001
    return (await locator.count()) > 0 and (await locator.inner_text()) == expected


async def _has(receiver: HookReceiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _reload_shows(page, selector: str, expected: str) -> bool:  # noqa: ANN001
    await page.reload()
    return await page.locator(selector).first.inner_text() == expected


async def test_a_test_key_session_never_sees_live_objects(dashboard_server: LiveServer, open_page):
    """The live key's connection, webhook endpoint and do-not-call entry are invisible to its test key."""
    base = dashboard_server.base_url
    live = await new_partner(dashboard_server, keys.LIVE)
    test = await partners.create_key(dashboard_server.ctx, live.partner_id, keys.TEST)
    h = {"Authorization": f"Bearer {live.api_key}"}
    api = dashboard_server.api
    assert (await api.put("/config/telephony/twilio", json=CREDS["twilio"], headers=h)).status_code == 200
    r = await api.post("/config/webhooks", json={"label": "live-crm", "url": "https://hooks.example.com/x"}, headers=h)
    assert r.status_code == 200, r.text
    assert (await api.post("/dnc", json={"numbers": ["+14155550123"]}, headers=h)).status_code == 200

    page = await open_page()
    await sign_in(page, base, test.api_key)
    await page.goto(base + "/connections")
    assert "+14155551234" not in await page.content()
    await page.goto(base + "/webhooks")
    assert "live-crm" not in await page.content()
    await page.goto(base + "/dnc")
    assert "+14155550123" not in await page.content()

    live_page = await open_page()
    await sign_in(live_page, base, live.api_key)
    assert await live_page.locator("[data-mode]").inner_text() == "Live mode"
    await live_page.goto(base + "/dnc")
    assert "+14155550123" in await live_page.content()


# Every visible text node's colour against the first opaque background behind it (WCAG relative luminance).
LOW_CONTRAST = r"""() => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (css) => css.match(/[\d.]+/g).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.offsetParent || el.closest('.visually-hidden, .skip')) continue;
    const fg = lum(parse(getComputedStyle(el).color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) bad.push([n.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
  }
  return bad;
}"""


async def test_the_dashboard_is_usable_on_a_phone_and_by_keyboard(dashboard_server: LiveServer, open_page):
    base = dashboard_server.base_url
    issued = await new_partner(dashboard_server)
    page = await open_page()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(base + "/signin")
    await page.keyboard.press("Tab")  # the first stop is the skip link
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.get_by_label("API key").fill(issued.api_key)
    await page.keyboard.press("Enter")  # the form submits from the keyboard
    await page.wait_for_url(base + "/calls")
    # Nothing is wider than the phone's screen except inside a scrolling table box.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.locator("main#main").count() == 1 and await page.locator("nav[aria-label=Main]").count() == 1
    for path in ("/calls", "/agents/new", "/connections", "/webhooks", "/dnc", "/campaigns", "/signin"):
        await page.goto(base + path)
        unlabeled = await page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)"""
        )
        assert unlabeled == [], (path, unlabeled)
        assert await page.evaluate(LOW_CONTRAST) == [], path
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
