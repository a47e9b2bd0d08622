// COPY: dst[i_dst] = src[i_src] over an N-D box; both sides strided (negative strides count down from the
// start, which the step's offsets already include).
const N = {{N}};

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
{{INDEX}}
    str_dst(i_dst, ldr_src(i_src));
}
