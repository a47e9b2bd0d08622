// One thread per element over a grid of up to 65535 x 65535 workgroups of WG threads.
const WG = 64u;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
