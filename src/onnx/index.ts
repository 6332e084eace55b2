// ONNX export of our EfficientNets: `exportOnnx(model) → bytes` and an atomic writer.
import { atomicWriteFile } from '../util/atomic_write.js';

export {
  exportOnnx,
  OnnxExportError,
  ONNX_INPUT_NAME,
  DEFAULT_OPSET,
  MIN_OPSET,
  MAX_OPSET,
  type ExportOnnxOptions,
} from './export_efficientnet.js';
export { decodeModel } from './graph.js';
export { exportOnnxInt8, type CalibrationBatch, type ExportOnnxInt8Options, type QuantizeOptions } from './quantize.js';

/** Write an exported model atomically (temp file + rename), so a kill never leaves half a model. */
export function writeOnnx(path: string, bytes: Uint8Array): void {
  atomicWriteFile(path, bytes);
}
