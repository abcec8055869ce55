import { describePeriod, formatMoney, parsePeriod, PAYMENT_METHOD_LABELS } from './billing-fns.ts';
import type { Invoice } from './billing-types.ts';

export interface OperatorDetails {
  name: string;
  address?: string;
  email?: string;
  vatId?: string;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Every value that reaches the page goes through here: names and addresses are user input. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Escaped, with line breaks kept (addresses). */
const multiline = (v: string | null | undefined) =>
  escapeHtml(v ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .join('<br>');

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : '');

/** The period as actually billed (periodStart/periodEnd, which can be narrower than the period). */
function periodText(invoice: Invoice): string {
  const p = parsePeriod(invoice.period);
  return p
    ? describePeriod(p, { start: new Date(invoice.periodStart), end: new Date(invoice.periodEnd) })
    : invoice.period;
}

const STYLE = `
  *{box-sizing:border-box}
  body{margin:0;background:#f3f4f6;color:#111827;font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
  .page{max-width:800px;margin:32px auto;background:#fff;padding:48px 56px;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);position:relative}
  header{display:flex;justify-content:space-between;align-items:flex-start;gap:24px;border-bottom:2px solid #111827;padding-bottom:20px}
  h1{margin:0;font-size:28px;letter-spacing:.02em}
  .number{font-size:15px;color:#374151;margin-top:4px;font-variant-numeric:tabular-nums}
  .operator{text-align:right;color:#374151}
  .operator strong{color:#111827;font-size:16px}
  .parties{display:flex;justify-content:space-between;gap:24px;margin:28px 0}
  .label{text-transform:uppercase;font-size:11px;letter-spacing:.08em;color:#6b7280;margin-bottom:4px}
  dl{margin:0;display:grid;grid-template-columns:auto auto;gap:2px 16px}
  dt{color:#6b7280}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
  table{width:100%;border-collapse:collapse;margin-top:8px}
  th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.08em;color:#6b7280;border-bottom:1px solid #d1d5db;padding:8px 6px}
  td{padding:10px 6px;border-bottom:1px solid #f0f0f0;vertical-align:top}
  .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
  code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
  .empty{color:#6b7280;text-align:center;padding:20px}
  .totals{margin-left:auto;margin-top:16px;width:320px}
  .totals td{border:0;padding:4px 6px}
  .totals .grand td{border-top:2px solid #111827;font-weight:700;font-size:17px;padding-top:10px}
  .status{display:inline-block;margin-top:8px;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.06em;background:#e5e7eb;color:#374151}
  .status.paid{background:#d1fae5;color:#065f46}.status.void{background:#fee2e2;color:#991b1b}
  .watermark{position:absolute;top:40%;left:0;right:0;text-align:center;font-size:120px;font-weight:800;color:rgba(220,38,38,.12);transform:rotate(-20deg);pointer-events:none}
  footer{margin-top:40px;color:#6b7280;font-size:12px;border-top:1px solid #e5e7eb;padding-top:12px}
  @media print{body{background:#fff}.page{margin:0;box-shadow:none;border-radius:0;padding:0;max-width:none}@page{margin:18mm}}
`;

/** The printable invoice page: one self-contained document, no scripts, no external assets. */
export function renderInvoiceHtml(invoice: Invoice, operator: OperatorDetails): string {
  const money = (micros: number) => escapeHtml(formatMoney(micros, invoice.currency));
  const b = invoice.billTo;
  const rows = invoice.lineItems.length
    ? invoice.lineItems
        .map(
          (l) => `<tr>
          <td><code>${escapeHtml(l.endpoint)}</code></td>
          <td class="num">${escapeHtml(l.calls.toLocaleString('en-US'))}</td>
          <td class="num">${money(l.unitPriceMicros)}</td>
          <td class="num">${money(l.amountMicros)}</td>
        </tr>`,
        )
        .join('')
    : '<tr><td colspan="4" class="empty">No billable usage in this period.</td></tr>';
  const calls = invoice.lineItems.reduce((n, l) => n + l.calls, 0);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invoice ${escapeHtml(invoice.number)}</title>
<style>${STYLE}</style>
</head>
<body>
<main class="page">
  ${invoice.status === 'void' ? '<div class="watermark" aria-hidden="true">VOID</div>' : ''}
  <header>
    <div>
      <h1>Invoice</h1>
      <div class="number">${escapeHtml(invoice.number)}</div>
      <span class="status ${escapeHtml(invoice.status)}">${escapeHtml(invoice.status)}</span>
    </div>
    <div class="operator">
      <strong>${escapeHtml(operator.name)}</strong><br>
      ${operator.address ? `${multiline(operator.address)}<br>` : ''}
      ${operator.email ? `${escapeHtml(operator.email)}<br>` : ''}
      ${operator.vatId ? `VAT ${escapeHtml(operator.vatId)}` : ''}
    </div>
  </header>
  <section class="parties">
    <div>
      <div class="label">Bill to</div>
      <strong>${escapeHtml(b.company.name ?? b.name)}</strong><br>
      ${b.company.name && b.company.name !== b.name ? `${escapeHtml(b.name)}<br>` : ''}
      ${b.company.address ? `${multiline(b.company.address)}<br>` : ''}
      ${b.company.vatId ? `VAT ${escapeHtml(b.company.vatId)}<br>` : ''}
      ${b.email ? escapeHtml(b.email) : ''}
      <div class="label" style="margin-top:8px">Client ID</div><code>${escapeHtml(invoice.clientId)}</code>
    </div>
    <dl>
      <dt>Invoice number</dt><dd>${escapeHtml(invoice.number)}</dd>
      <dt>Issued</dt><dd>${escapeHtml(day(invoice.issuedAt))}</dd>
      <dt>Period</dt><dd>${escapeHtml(periodText(invoice))}</dd>
      <dt>Currency</dt><dd>${escapeHtml(invoice.currency)}</dd>
      <dt>Payment</dt><dd>${escapeHtml(PAYMENT_METHOD_LABELS[b.paymentMethod] ?? b.paymentMethod)}</dd>
      ${invoice.paidAt ? `<dt>Paid</dt><dd>${escapeHtml(day(invoice.paidAt))}</dd>` : ''}
      ${invoice.voidedAt ? `<dt>Voided</dt><dd>${escapeHtml(day(invoice.voidedAt))}</dd>` : ''}
    </dl>
  </section>
  <table class="lines">
    <thead><tr><th>Endpoint</th><th class="num">Calls</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
  <table class="totals">
    <tr><td>Calls</td><td class="num">${escapeHtml(calls.toLocaleString('en-US'))}</td></tr>
    <tr><td>Subtotal</td><td class="num">${money(invoice.totalMicros)}</td></tr>
    <tr class="grand"><td>Total (${escapeHtml(invoice.currency)})</td><td class="num">${money(invoice.totalMicros)}</td></tr>
  </table>
  <footer>
    ${escapeHtml(invoice.number)} · ${escapeHtml(periodText(invoice))} · amounts are exact to the micro-unit (${escapeHtml(invoice.total)} ${escapeHtml(invoice.currency)})${invoice.voidReason ? ` · void: ${escapeHtml(invoice.voidReason)}` : ''}
  </footer>
</main>
</body>
</html>
`;
}

/** The plain-text part of the invoice email. */
export function renderInvoiceText(invoice: Invoice, operator: OperatorDetails): string {
  const money = (micros: number) => formatMoney(micros, invoice.currency).replace(/\u00a0/g, ' ');
  const width = Math.max(8, ...invoice.lineItems.map((l) => l.endpoint.length));
  const lines = invoice.lineItems.map(
    (l) =>
      `  ${l.endpoint.padEnd(width)}  ${String(l.calls).padStart(9)} x ${money(l.unitPriceMicros).padStart(10)}  = ${money(l.amountMicros).padStart(12)}`,
  );
  const b = invoice.billTo;
  return [
    `Invoice ${invoice.number} from ${operator.name}`,
    '',
    `Bill to: ${b.company.name ?? b.name}${b.company.vatId ? ` (VAT ${b.company.vatId})` : ''}`,
    `Period:  ${periodText(invoice)}`,
    `Issued:  ${day(invoice.issuedAt)}`,
    `Status:  ${invoice.status}`,
    '',
    ...(lines.length ? lines : ['  No billable usage in this period.']),
    '',
    `Total: ${money(invoice.totalMicros)} (${invoice.currency})`,
    '',
    operator.email ? `Questions: ${operator.email}` : '',
  ]
    .filter((l, i, all) => l !== '' || all[i - 1] !== '')
    .join('\n');
}

export function renderInvoiceEmail(
  invoice: Invoice,
  operator: OperatorDetails,
): { subject: string; html: string; text: string } {
  return {
    subject: `Invoice ${invoice.number} from ${operator.name}: ${formatMoney(invoice.totalMicros, invoice.currency).replace(/\u00a0/g, ' ')}`,
    html: renderInvoiceHtml(invoice, operator),
    text: renderInvoiceText(invoice, operator),
  };
}
