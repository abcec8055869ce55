import { z } from 'zod';
import { emailAddress } from '../lib/email.ts';
import {
  BILLING_FREQUENCIES,
  PAYMENT_METHODS,
  type BillingFrequency,
  type PaymentMethod,
} from './billing-types.ts';

/**
 * A client's payment details as set by an admin (issue 19: one schema per input): the HTTP
 * body, the CLI's `clients payment` flags and an import's rows are all parsed by it, and the
 * billing service trusts what it produced. The billing address follows the one e-mail rule
 * (src/lib/email.ts) that client addresses do, so every address billing keeps can be mailed.
 */
export const paymentDetailsInput = z.object({
  method: z.enum(PAYMENT_METHODS as [PaymentMethod, ...PaymentMethod[]], {
    error: `must be one of ${PAYMENT_METHODS.join(', ')}`,
  }),
  frequency: z
    .enum(BILLING_FREQUENCIES as [BillingFrequency, ...BillingFrequency[]], {
      error: 'must be weekly or monthly',
    })
    .default('weekly'),
  billingEmail: emailAddress.nullable().optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO currency code')
    .optional(),
  company: z
    .object({
      name: z.string().max(200).nullable().optional(),
      address: z.string().max(1000).nullable().optional(),
      vatId: z.string().max(50).nullable().optional(),
    })
    .nullable()
    .optional(),
  invoiceWhenEmpty: z.boolean().nullable().optional(),
});

export type PaymentDetailsInput = z.output<typeof paymentDetailsInput>;
