// The seed's Python example (timm's model card for tf_efficientnet_b0.ns_jft_in1k), in TypeScript:
// create the model, preprocess an image exactly as timm does, print the top-5 ImageNet classes.
//
//   node --import tsx examples/predict.mts [--checkpoint model.safetensors | --pretrained] [image]
//
// timm's example uses pretrained=True (weights from the Hugging Face hub). Without network access a
// local timm checkpoint stands in: by default the random-weight fixture of ../shared, so the classes
// printed are meaningless but every step is the real one. --pretrained downloads the real weights.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createModel, createTransform, IMAGENET_CLASSES, loadImage, noGrad, resolveDataConfig } from 'noisy-student';

const shared = (path: string): string => fileURLToPath(new URL(`../../shared/${path}`, import.meta.url));
const { values: args, positionals } = parseArgs({
  options: { checkpoint: { type: 'string' }, pretrained: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const checkpointPath = args.checkpoint ?? shared('fixtures/timm/tf_efficientnet_b0/model.safetensors');
const image = positionals[0] ?? shared('data/dog.jpg');

const model = await createModel('tf_efficientnet_b0_ns', args.pretrained ? { pretrained: true } : { checkpointPath });
model.eval();
const transform = createTransform(resolveDataConfig({}, model));
const x = transform(await loadImage(image)).unsqueeze(0);
const probs = noGrad(() => model.forward(x)).softmax(1);
const { values, indices } = probs.topk(5);

const p = values.toArray();
const idx = indices.toArray();
console.log(`top-5 for ${image}:`);
idx.forEach((c, i) => console.log(`${(p[i]! * 100).toFixed(2).padStart(6)}%  ${IMAGENET_CLASSES[c]} (${c})`));
