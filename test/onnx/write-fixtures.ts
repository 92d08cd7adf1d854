/** Rebuilds test/fixtures/onnx: `npx tsx test/onnx/write-fixtures.ts`. */
import { fileURLToPath } from 'node:url';
import { writeFixtures } from './build-onnx';

const dir = fileURLToPath(new URL('../fixtures/onnx', import.meta.url));
await writeFixtures(dir);
console.log(`wrote ONNX fixtures to ${dir}`);
