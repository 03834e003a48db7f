// tfjs-core with its CPU backend and gradients registered: the independent oracle for tests. Loaded
// through require: tfjs-core's ES build imports directories, which Node's ESM loader refuses.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const tf = require('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-core/dist/register_all_gradients');
tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner
await tf.setBackend('cpu');
