// An 8x8 digit pad on a canvas, in scikit-learn's digits format: 64 pixel values 0..16 (ink), which
// the model sees divided by 16. Draw with the pointer, load a sample, or import any image (it is
// averaged down to 8x8; a light background is taken as paper and inverted to ink).

const SIZE = 8;
const MAX = 16;

export class DigitPad {
  constructor(canvas) {
    this.canvas = canvas;
    this.pixels = new Array(SIZE * SIZE).fill(0);
    this.drawing = false;
    canvas.addEventListener("pointerdown", (e) => {
      this.drawing = true;
      canvas.setPointerCapture(e.pointerId);
      this.ink(e);
    });
    canvas.addEventListener("pointermove", (e) => this.drawing && this.ink(e));
    canvas.addEventListener("pointerup", () => (this.drawing = false));
    this.render();
  }

  // A soft brush: full ink in the cell under the pointer, some in its four neighbours.
  ink(event) {
    const box = this.canvas.getBoundingClientRect();
    const col = Math.floor(((event.clientX - box.left) / box.width) * SIZE);
    const row = Math.floor(((event.clientY - box.top) / box.height) * SIZE);
    for (const [dr, dc, amount] of [[0, 0, 8], [-1, 0, 3], [1, 0, 3], [0, -1, 3], [0, 1, 3]]) {
      const r = row + dr;
      const c = col + dc;
      if (r >= 0 && r < SIZE && c >= 0 && c < SIZE) {
        this.pixels[r * SIZE + c] = Math.min(MAX, this.pixels[r * SIZE + c] + amount);
      }
    }
    this.render();
    this.canvas.dispatchEvent(new Event("change"));
  }

  set(pixels) {
    this.pixels = pixels.map((v) => Math.max(0, Math.min(MAX, Math.round(v))));
    this.render();
  }

  clear() {
    this.set(new Array(SIZE * SIZE).fill(0));
  }

  /** The model input: float32 [1, 1, 8, 8], pixels / 16. */
  input() {
    return Float32Array.from(this.pixels, (v) => v / MAX);
  }

  /** Average an image down to 8x8 ink values. */
  async importImage(blob) {
    const bitmap = await createImageBitmap(blob);
    const small = new OffscreenCanvas(SIZE, SIZE).getContext("2d", { willReadFrequently: true });
    small.imageSmoothingQuality = "high";
    small.drawImage(bitmap, 0, 0, SIZE, SIZE);
    const rgba = small.getImageData(0, 0, SIZE, SIZE).data;
    const light = [];
    for (let i = 0; i < rgba.length; i += 4) {
      const alpha = rgba[i + 3] / 255; // transparent counts as paper
      const luminance = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
      light.push((luminance * alpha + 255 * (1 - alpha)) / 255);
    }
    const paperIsLight = light.reduce((a, b) => a + b, 0) / light.length > 0.5;
    this.set(light.map((l) => MAX * (paperIsLight ? 1 - l : l)));
  }

  render(canvas = this.canvas, pixels = this.pixels) {
    const ctx = canvas.getContext("2d");
    const cell = canvas.width / SIZE;
    pixels.forEach((v, i) => {
      const shade = Math.round(255 * (1 - v / MAX));
      ctx.fillStyle = `rgb(${shade}, ${shade}, ${shade})`;
      ctx.fillRect((i % SIZE) * cell, Math.floor(i / SIZE) * cell, cell, cell);
    });
  }
}
