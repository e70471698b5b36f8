/**
 * onnxruntime-node session wrapper: picks the execution provider, sets threading, and fails
 * with a clear message when a device is not available in the installed onnxruntime build.
 */
import * as ort from "onnxruntime-node";
import { cpus } from "node:os";

// onnxruntime 1.30's native library keeps a telemetry queue with a device ID under
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ and writes /tmp/mat-debug-<pid>.log, unless
// ORT_DISABLE_TELEMETRY=1 when its environment is created (at the first session, after this
// module loads). A medical tool queues and sends nothing by default; ORT_DISABLE_TELEMETRY=0 in
// the environment opts back in.
if (Deno.env.get("ORT_DISABLE_TELEMETRY") === undefined) Deno.env.set("ORT_DISABLE_TELEMETRY", "1");

export type Device = "cpu" | "cuda" | "webgpu";

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default: number of cores. Results are bit-stable per thread count. */
  threads?: number;
  /** onnxruntime graph optimisation level (default "all"). */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /** Write an onnxruntime profile (JSON) with this file prefix. */
  profilePrefix?: string;
}

export class DeviceUnavailableError extends Error {
  override name = "DeviceUnavailableError";
}

export function defaultThreads(): number {
  return Math.max(1, cpus().length);
}

/** Which execution providers this onnxruntime-node build ships. */
export function availableDevices(): Device[] {
  const backends = ort.listSupportedBackends?.() ?? [{ name: "cpu", bundled: true }];
  const out: Device[] = [];
  for (const b of backends as { name: string; bundled: boolean }[]) {
    if ((b.name === "cpu" || b.name === "cuda" || b.name === "webgpu") && b.bundled) {
      out.push(b.name);
    }
  }
  return out;
}

const HINTS: Record<Device, string> = {
  cpu: "",
  cuda: "use the GPU image (onnxruntime-node GPU build with CUDA 12) or --device cpu",
  webgpu: "needs a hardware WebGPU adapter (software Vulkan is refused); use --device cpu",
};

function providerName(device: Device): string {
  return { cpu: "CPU", cuda: "CUDA", webgpu: "WebGPU" }[device];
}

export type Feeds = Record<string, ort.Tensor>;

/** One onnxruntime session for one graph; build once, run many times. */
export class Session {
  private constructor(
    readonly inner: ort.InferenceSession,
    readonly device: Device,
    readonly threads: number,
  ) {}

  static async create(model: Uint8Array, o: SessionOptions = {}): Promise<Session> {
    const device = o.device ?? "cpu";
    if (!availableDevices().includes(device)) {
      throw new DeviceUnavailableError(
        `${providerName(device)} execution provider not available in this onnxruntime build; ${
          HINTS[device]
        }`,
      );
    }
    const threads = o.threads ?? defaultThreads();
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: [device],
      graphOptimizationLevel: o.optimization ?? "all",
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      enableCpuMemArena: true,
      enableMemPattern: true,
    };
    if (o.profilePrefix) {
      opts.enableProfiling = true;
      opts.profileFilePrefix = o.profilePrefix;
    }
    try {
      const inner = await ort.InferenceSession.create(model, opts);
      return new Session(inner, device, threads);
    } catch (e) {
      if (device !== "cpu") {
        throw new DeviceUnavailableError(
          `${providerName(device)} execution provider failed to start: ${(e as Error).message}; ${
            HINTS[device]
          }`,
        );
      }
      throw e;
    }
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /** Runs the graph; `fetches` may name a subset of outputs or give pre-allocated tensors. */
  run(feeds: Feeds, fetches?: string[] | Record<string, ort.Tensor>): Promise<Feeds> {
    // deno-lint-ignore no-explicit-any
    return this.inner.run(feeds, fetches as any) as Promise<Feeds>;
  }

  /** Ends profiling (if enabled) and returns the profile file name. */
  endProfiling(): void {
    this.inner.endProfiling();
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

export { ort };
