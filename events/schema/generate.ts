/**
 * JSON Schemas of the event formats, for producers and consumers outside this codebase.
 * Incoming formats are described as producers send them (zod `input` side: int64 as string or
 * number), outbound events as we publish them. Regenerate after changing a schema:
 *   npx tsx events/schema/generate.ts
 * test/events/schema.test.ts fails when the committed files are stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { cloudEventSchema } from '../cloudevent';
import { monitoringNotificationSchema } from '../monitoring';
import { outboundSchemas } from '../outbound';
import { messagePublishedDataSchema } from '../pubsub';
import { schedulerCommandBodySchema } from '../scheduler';
import { storageObjectDataSchema } from '../storage';

export const SCHEMA_DIR = fileURLToPath(new URL('./', import.meta.url));

export function jsonSchemas(): Record<string, unknown> {
  const input = { io: 'input' as const };
  const schemas: Record<string, unknown> = {
    'cloudevent.schema.json': z.toJSONSchema(cloudEventSchema, input),
    'storage-object-data.schema.json': z.toJSONSchema(storageObjectDataSchema, input),
    'pubsub-message-published-data.schema.json': z.toJSONSchema(messagePublishedDataSchema, input),
    'monitoring-notification.schema.json': z.toJSONSchema(monitoringNotificationSchema, input),
    'scheduler-command.schema.json': z.toJSONSchema(schedulerCommandBodySchema, input),
    'outbound-event.schema.json': z.toJSONSchema(outboundSchemas().event),
  };
  for (const [type, schema] of Object.entries(outboundSchemas().data)) {
    schemas[`${type}.data.schema.json`] = z.toJSONSchema(schema);
  }
  return schemas;
}

export function serialise(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [file, schema] of Object.entries(jsonSchemas())) {
    writeFileSync(`${SCHEMA_DIR}${file}`, serialise(schema));
  }
}
