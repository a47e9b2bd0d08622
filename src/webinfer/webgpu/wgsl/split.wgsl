// Split-K (tuning.Tile.split), in both of its kernels: the product's workgroup z is batch * SPLIT +
// slice, and slice s multiplies k in [s * KS, min(K, (s + 1) * KS)) into its own part of `part`
// ([SPLIT, Z, M, N]); split_sum.wgsl then adds the parts of each result in slice order and applies
// the epilogue. Both kernels name every storage binding of the step (use_bindings), so that the
// layout each derives holds the one bind group both are given.
const Z = {{Z}};
const SPLIT = {{SPLIT}};
const KS = {{KS}};
@group(0) @binding({{BINDING}}) var<storage, read_write> part: array<f32>;
var<private> slice: u32;

fn use_bindings() {
{{USES}}
}
