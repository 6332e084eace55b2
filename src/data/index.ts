// Public surface of the data layer (the package index re-exports from here).
export { type ImageU8, type FloatCHW, ImageShapeError, createImage, imageFromData, cloneImage, grayToRgb, rgbToGray } from './image.js';
export {
  loadImage,
  decodeImage,
  readImageHeader,
  ImageDecodeError,
  DEFAULT_MAX_DECODED_BYTES,
  type ImageHeader,
  type LoadImageOptions,
  type HighBitDepthMode,
  type ImageDecodeErrorCode,
} from './image_io.js';
export { ByteBudget, DEFAULT_DECODE_BYTES_IN_FLIGHT, type DecodeBudget } from './decode_budget.js';
export { DEFAULT_MAX_WORKER_CRASHES } from './loader_pool.js';
export { Rng, type RngState } from './rng.js';
export {
  resolveDataConfig,
  evalScaleSize,
  DataConfigError,
  IMAGENET_DEFAULT_MEAN,
  IMAGENET_DEFAULT_STD,
  DEFAULT_CROP_PCT,
  DEFAULT_CROP_MODE,
  type DataConfig,
  type DataConfigArgs,
  type PretrainedCfgLike,
  type Interpolation,
  type TrainInterpolation,
  type CropMode,
} from './data_config.js';
export {
  createTransform as createArrayTransform,
  TransformError,
  type Transform,
  type CreateTransformOptions,
  type TrainTransformOptions,
} from './transforms_factory.js';
export { createTransform, toTensor, batchToTensor } from './tensor_transform.js';
export { resize, resizeShorterSide, shorterSideSize, type ResampleFilter, type ResizeBox } from './transforms/resize.js';
export { crop, pad, centerCropOrPad, centerCropBox } from './transforms/crop.js';
export { hflip, vflip } from './transforms/flip.js';
export { toFloatCHW, toNormalizedCHW, fromNormalizedCHW } from './transforms/to_tensor.js';
export { createRandomErasing, type RandomErasingOptions, type ErasingMode } from './transforms/random_erasing.js';
export { randomResizedCropParams, resizedCrop, type CropParams } from './transforms/random_resized_crop.js';
export {
  parseRandAugment,
  createRandAugment,
  applyAugmentOp,
  applyOp,
  levelToArg,
  noisyStudentHparams,
  RandAugmentConfigError,
  RAND_TRANSFORMS,
  RAND_INCREASING_TRANSFORMS,
  NOISY_STUDENT_TRANSFORMS,
  type RandAugmentConfig,
  type AugmentHparams,
  type AugmentOpName,
} from './rand_augment.js';
export * as augmentOps from './augment_ops.js';
export { type ImageDataset, type SampleSource, DatasetError, UNLABELED, loadSample, subset, withoutLabels } from './datasets/dataset.js';
export { imageFolder, TIMM_IMAGE_EXTENSIONS, type ImageFolderDataset, type ImageFolderOptions } from './datasets/image_folder.js';
export { flatFolder, SHARP_IMAGE_EXTENSIONS, type FlatFolderDataset } from './datasets/flat_folder.js';
export { imageList, parseCsv, type ImageListDataset, type ImageListOptions } from './datasets/image_list.js';
export { fashionMnist, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, type FashionMnistDataset } from './datasets/fashion_mnist.js';
export { labeledSplit, type LabeledSplit } from './datasets/split.js';
export { naturalCompare } from './datasets/natural_sort.js';
export { mapClassesByName, type ClassMapping } from './datasets/class_map.js';
export {
  SkipReport,
  SKIPPED_FILE,
  DEFAULT_MAX_SKIPPED,
  TooManySkippedError,
  type SkippedImage,
  type SkipReportOptions,
} from './skip_report.js';
export {
  DataLoader,
  LoaderError,
  type LoaderOptions,
  type LoaderStats,
  type BatchResult,
  type SampleError,
  type TransformSpec,
} from './loader.js';
