/** Pre-trip self-check (seed 001): pass/fail with reasons. */
export const selfCheckSchema = {
  type: 'object',
  properties: {
    plate: { type: 'string' },
    pass: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, pass: { type: 'boolean' }, reason: { type: ['string', 'null'] }, details: { type: 'object', additionalProperties: true } },
      },
    },
  },
} as const
