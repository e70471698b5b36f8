/**
 * Debian's headless Chromium driven over the DevTools protocol (a WebSocket, no npm package):
 * pages, script evaluation, mouse and key input, screenshots. For the annotate page's tests.
 */
import { chromium } from "../chromium.ts";

type Json = Record<string, unknown>;

export class Browser {
  private nextId = 1;
  private readonly waiting = new Map<number, { ok: (v: Json) => void; fail: (e: Error) => void }>();
  private readonly listeners = new Set<(method: string, params: Json, session?: string) => void>();

  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly ws: WebSocket,
    private readonly dir: string,
  ) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string);
      if (m.id !== undefined) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) w?.fail(new Error(`${m.error.message} (${m.error.code})`));
        else w?.ok(m.result ?? {});
      } else for (const l of this.listeners) l(m.method, m.params ?? {}, m.sessionId);
    };
  }

  /** Starts Chromium (headless, fresh profile, no network services) and connects to it. */
  static async launch(): Promise<Browser> {
    const dir = await Deno.makeTempDir({ prefix: "duet-chromium-" });
    // A Chromium that is missing or does not start leaves no process or profile folder behind.
    let child: Deno.ChildProcess | undefined;
    try {
      child = chromium(`${dir}/profile`, ["--remote-debugging-port=0", "about:blank"], {
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // Chromium prints its DevTools endpoint on stderr.
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      const deadline = Date.now() + 20_000;
      let endpoint: string | undefined;
      while (!endpoint) {
        const { value, done } = await reader.read();
        if (done || Date.now() > deadline) throw new Error(`Chromium did not start: ${text}`);
        text += value;
        endpoint = text.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
      }
      // Keep draining stderr so Chromium never blocks on a full pipe.
      (async () => {
        try {
          while (!(await reader.read()).done) { /* discard */ }
        } catch { /* closed */ }
      })();
      const ws = new WebSocket(endpoint);
      await new Promise((ok, fail) => {
        ws.onopen = ok;
        ws.onerror = () => fail(new Error(`cannot connect to ${endpoint}`));
      });
      return new Browser(child, ws, dir);
    } catch (e) {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        await child.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((ok, fail) => this.waiting.set(id, { ok, fail }));
  }

  /** Resolves with the params of the next `method` event (of `sessionId`). */
  once(method: string, sessionId?: string, timeoutMs = 20_000): Promise<Json> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.listeners.delete(l);
        fail(new Error(`timed out waiting for ${method}`));
      }, timeoutMs);
      const l = (m: string, params: Json, session?: string) => {
        if (m !== method || session !== sessionId) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        ok(params);
      };
      this.listeners.add(l);
    });
  }

  /** A new tab of `width` x `height` CSS pixels. */
  async newPage(width = 1400, height = 900): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId as string);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close"), new Promise((r) => setTimeout(r, 3000))]);
    } catch { /* already gone */ }
    this.ws.close();
    try {
      this.child.kill("SIGKILL");
    } catch { /* exited */ }
    await this.child.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

export class Page {
  constructor(readonly browser: Browser, readonly sessionId: string) {}

  send(method: string, params: Json = {}): Promise<Json> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.browser.once("Page.loadEventFired", this.sessionId);
    await this.send("Page.navigate", { url });
    await loaded;
  }

  /** The value of a JS expression (promises awaited); page exceptions are thrown here. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      const d = r.exceptionDetails as { text: string; exception?: { description?: string } };
      throw new Error(`page: ${d.exception?.description ?? d.text}`);
    }
    return (r.result as { value: T }).value;
  }

  /** Polls `expression` until it is truthy. */
  async waitFor(expression: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(`!!(${expression})`))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  mouse(
    type: "mousePressed" | "mouseMoved" | "mouseReleased",
    x: number,
    y: number,
    button: "left" | "right" | "none" = "left",
  ): Promise<Json> {
    const pressed = type === "mouseReleased"
      ? 0
      : button === "left"
      ? 1
      : button === "right"
      ? 2
      : 0;
    return this.send("Input.dispatchMouseEvent", {
      type,
      x,
      y,
      button,
      buttons: type === "mouseMoved" && button === "none" ? 0 : pressed,
      clickCount: type === "mouseMoved" ? 0 : 1,
    });
  }

  wheel(x: number, y: number, deltaY: number): Promise<Json> {
    return this.send("Input.dispatchMouseEvent", { type: "mouseWheel", x, y, deltaX: 0, deltaY });
  }

  /** Clicks the centre of the first element matching `selector`. */
  async click(selector: string): Promise<void> {
    const box = await this.evaluate<{ x: number; y: number } | null>(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); if (!e) return null;
        const r = e.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })()`,
    );
    if (!box) throw new Error(`no element ${selector}`);
    await this.mouse("mousePressed", box.x, box.y);
    await this.mouse("mouseReleased", box.x, box.y);
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }
}
