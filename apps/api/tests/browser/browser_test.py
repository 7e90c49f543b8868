#!/usr/bin/env python3
"""The front door in a real browser: headless Chromium clicks through a test shop whose page loads
the API's tracker.js, then opens the API's dashboard and looks a customer up.

    browser_test.py --api http://127.0.0.1:PORT --user 42 --products 15970,15971 \\
        --lookup-customer 42 --artifacts DIR

The shop page (shop.html, beside this file) is served by a throwaway http.server on another
origin than the API, as a real shop is, so the tracker's cross-origin sending is what gets tested.
On success one JSON line goes to stdout (session id, events, screenshots, counts) for the Rust
test that runs this script to check the stream; progress goes to stderr. On failure: a message
on stderr, failure.png and failure.html in DIR, and a non-zero exit.

Chromium and chromedriver are Debian's (/usr/bin), named explicitly so that Selenium Manager
never downloads a browser or a driver.
"""

import argparse
import functools
import http.server
import json
import sys
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOP_DIR = Path(__file__).resolve().parent
WINDOW = (1280, 1600)
SESSION_KEY = "fashion.session"  # the tracker's localStorage key
MIN_CHARTS = 4
MIN_CHART_ELEMENTS = 6  # a rough sign of data marks: more than a frame and an axis or two


class TestFailure(Exception):
    """A check that failed; its message is what the reader needs."""


def log(message):
    print(f"browser test: {message}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api", required=True, help="base URL of the running API")
    p.add_argument("--user", required=True, type=int, help="the shopper's user id")
    p.add_argument("--products", required=True, help="comma-separated product ids for the tiles")
    p.add_argument("--lookup-customer", required=True, type=int, help="customer for the lookup box")
    p.add_argument("--artifacts", required=True, type=Path, help="directory for screenshots")
    args = p.parse_args()
    args.api = args.api.rstrip("/")
    try:
        args.products = [int(x) for x in args.products.split(",") if x.strip()]
    except ValueError:
        p.error(f"--products {args.products!r}: expected comma-separated integers")
    if not args.products:
        p.error("--products: at least one product id")
    return args


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # stderr stays for this script's own lines
        pass


def start_shop_server():
    """Serves the shop's directory on 127.0.0.1 with a free port, from a daemon thread."""
    handler = functools.partial(QuietHandler, directory=str(SHOP_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="shop-server", daemon=True).start()
    return server


def start_driver(artifacts):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(arg)
    # The browser console holds the tracker's warnings (rejected events, retries): kept for failures.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(artifacts / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def wait_for(driver, seconds, what, condition):
    """Waits for condition(driver) to be truthy; fails naming `what` (a string or a function)."""
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)
    except TimeoutException:
        if callable(what):
            try:
                what = what()
            except Exception as e:  # noqa: BLE001: the page may be gone
                what = f"(state unreadable: {e})"
        raise TestFailure(f"timed out after {seconds} s waiting for {what}") from None


def shop_steps(driver, args, shop_url, result):
    log(f"opening the shop at {shop_url}")
    driver.get(shop_url)
    wait_for(driver, 10, "window.fashionTracker on the shop page",
             lambda d: d.execute_script("return !!window.fashionTracker || !!window.shopError"))
    error = driver.execute_script("return window.shopError || null")
    if error:
        raise TestFailure(f"the shop page says: {error}")

    first = args.products[0]
    driver.find_element(By.ID, f"product-{first}").click()
    driver.find_element(By.ID, f"add-{first}").click()
    expected = [
        {"event_type": "page_view"},
        {"event_type": "click", "product_id": first},
        {"event_type": "add_to_cart", "product_id": first},
    ]
    stats = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.fashionTracker.flush().then(() => done(window.fashionTracker.stats()),"
        " (e) => done({error: String(e)}));"
    )
    log(f"after flush(): {stats}")

    def stats_now():
        return driver.execute_script("return window.fashionTracker.stats()")

    def answered(_driver):
        s = stats_now()
        return s["sent"] + s["rejected"] + s["dropped"] >= len(expected)

    # A 503 leaves the events queued for a retry after Retry-After: wait for the collector's answer.
    wait_for(driver, 20, lambda: f"the collector to answer for {len(expected)} events (stats {stats_now()})",
             answered)
    stats = stats_now()
    if stats["rejected"] or stats["dropped"]:
        raise TestFailure(f"the collector did not take every event: {stats} (reasons in the console log)")
    if stats["sent"] < len(expected):
        raise TestFailure(f"expected {len(expected)} events sent, stats {stats}")

    session = driver.execute_script(f"return window.localStorage.getItem({json.dumps(SESSION_KEY)})")
    session_id = json.loads(session)["id"] if session else None
    if not session_id:
        raise TestFailure(f"no session in the shop's localStorage[{SESSION_KEY!r}]")
    shot = args.artifacts / "shop.png"
    driver.execute_script("window.showTrackerStats && window.showTrackerStats()")  # fresh numbers
    driver.save_screenshot(str(shot))
    log(f"shop done: session {session_id}, stats {stats}, screenshot {shot}")
    result.update(
        session_id=session_id,
        user_id=args.user,
        events=expected,
        sent=stats["sent"],
        retries=stats["retries"],
        tracker_stats=stats,
        shop_url=shop_url,
        shop_screenshot=str(shot),
    )


def dashboard_steps(driver, args, result):
    url = f"{args.api}/"
    log(f"opening the dashboard at {url}")
    driver.get(url)
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    if len(charts) < MIN_CHARTS:
        captions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "figure.chart")]
        raise TestFailure(f"{len(charts)} charts (figure.chart svg) on the dashboard, expected at least "
                          f"{MIN_CHARTS}; figures: {captions}")
    sizes = [driver.execute_script("return arguments[0].querySelectorAll('*').length", svg) for svg in charts]
    empty = [i for i, n in enumerate(sizes) if n < MIN_CHART_ELEMENTS]
    if empty:
        raise TestFailure(f"charts {empty} hold no data marks (elements per chart: {sizes})")

    field = driver.find_element(By.CSS_SELECTOR, "input#lookup-customer")
    field.clear()
    field.send_keys(str(args.lookup_customer))
    driver.find_element(By.CSS_SELECTOR, "button#lookup-submit").click()
    items = lambda d: d.find_elements(By.CSS_SELECTOR, "ol#lookup-results li")

    def lookup_state():
        found = driver.find_elements(By.ID, "lookup-status")
        status = found[0].text if found else "no #lookup-status"
        return f"recommendations of customer {args.lookup_customer} (status: {status!r})"

    wait_for(driver, 10, lookup_state, lambda d: len(items(d)) >= 1)
    lookup_items = len(items(driver))

    shot = args.artifacts / "dashboard.png"
    full_page_screenshot(driver, shot)
    driver.save_screenshot(str(shot))
    log(f"dashboard done: {len(charts)} charts ({sizes} elements), {lookup_items} recommendations, "
        f"screenshot {shot}")
    result.update(charts=len(charts), chart_elements=sizes, lookup_customer=args.lookup_customer,
                  lookup_items=lookup_items, dashboard_screenshot=str(shot))


def full_page_screenshot(driver, path):
    """Makes the window as tall as the page (plus the browser's own frame) and saves a screenshot."""
    page, frame = driver.execute_script(
        "return [Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),"
        " window.outerHeight - window.innerHeight]")
    driver.set_window_size(WINDOW[0], min(max(WINDOW[1], page + frame), 16000))
    driver.save_screenshot(str(path))


def save_failure(driver, artifacts):
    """Whatever can be kept of the page the test failed on; never raises."""
    try:
        shot = artifacts / "failure.png"
        driver.save_screenshot(str(shot))
        (artifacts / "failure.html").write_text(driver.page_source, encoding="utf-8")
        log(f"saved {shot} and failure.html (page {driver.current_url})")
    except Exception as e:  # noqa: BLE001: the original failure matters more
        log(f"could not save the failure screenshot: {e}")
    try:
        for entry in driver.get_log("browser"):
            log(f"console {entry.get('level')}: {entry.get('message')}")
    except Exception:  # noqa: BLE001
        pass


def main():
    args = parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    args.artifacts = args.artifacts.resolve()
    server = start_shop_server()
    driver = None
    result = {}
    started = time.monotonic()
    try:
        shop_origin = f"http://127.0.0.1:{server.server_address[1]}"
        query = urllib.parse.urlencode(
            {"api": args.api, "user": args.user, "products": ",".join(map(str, args.products))})
        driver = start_driver(args.artifacts)
        shop_steps(driver, args, f"{shop_origin}/shop.html?{query}", result)
        dashboard_steps(driver, args, result)
    except Exception as e:  # noqa: BLE001: every failure gets the same report
        if isinstance(e, TestFailure):
            message = str(e)
        else:
            traceback.print_exc(file=sys.stderr)
            message = f"{type(e).__name__}: {str(e).strip()}"
        print(f"browser test FAILED: {message}", file=sys.stderr, flush=True)
        if driver is not None:
            save_failure(driver, args.artifacts)
        return 1
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception as e:  # noqa: BLE001
                log(f"could not quit the driver: {e}")
        server.shutdown()
        server.server_close()
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
