/** All graph ops in one namespace: `import * as op from "./ops.ts"`. */
export * from "./ops/math.ts";
export * from "./ops/shape.ts";
export * from "./ops/nn.ts";
export type { Tensor } from "./graph.ts";
