import { useState } from 'react';
import { api, apiText, qs, type Invoice, type Page } from './api.ts';
import {
  ConfirmDialog,
  ErrorBox,
  HtmlViewer,
  StatusBadge,
  When,
  useAction,
  useLoad,
} from './ui.tsx';

/**
 * Invoices: the client's own (`/v1/invoices`) or, for the operator, one client's
 * (`/admin/v1/invoices?clientId=`) or every client's (no clientId: with a client column), with
 * the printable HTML page and, for operators with invoices:write, mark paid / void / send.
 */
export function InvoicesPanel({
  base,
  clientId,
  canWrite,
}: {
  base: '/v1/invoices' | '/admin/v1/invoices';
  clientId?: string;
  canWrite: boolean;
}) {
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const list = useLoad(
    () => api<Page<Invoice>>('GET', `${base}${qs({ clientId, limit: 25, cursor })}`),
    [base, clientId, cursor],
  );
  const everyClient = base === '/admin/v1/invoices' && !clientId;
  const { action, viewing, setViewing, voiding, setVoiding, reason, setReason, notice, ...verbs } =
    useInvoiceActions(base, list.reload);
  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Invoices</h2>
      </div>
      <ErrorBox error={action.error ?? list.error} />
      {notice && <p className="notice">{notice}</p>}
      {list.data && list.data.data.length === 0 && <p className="muted">No invoices yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <InvoicesTable
          invoices={list.data.data}
          everyClient={everyClient}
          canWrite={canWrite}
          busy={action.busy}
          onOpen={verbs.open}
          onAct={verbs.act}
          onVoid={setVoiding}
        />
      )}
      <div className="pager">
        {cursor && (
          <button type="button" onClick={() => setCursor(undefined)}>
            First page
          </button>
        )}
        {list.data?.nextCursor && (
          <button type="button" onClick={() => setCursor(list.data!.nextCursor!)}>
            Next page
          </button>
        )}
      </div>
      {viewing && (
        <HtmlViewer title={viewing.title} html={viewing.html} onClose={() => setViewing(null)} />
      )}
      {voiding && (
        <ConfirmDialog
          title={`Void ${voiding.number}`}
          confirmLabel="Void invoice"
          danger
          busy={action.busy}
          onCancel={() => setVoiding(null)}
          onConfirm={() => verbs.voidInvoice(voiding)}
        >
          <p>The invoice keeps its number and is no longer due.</p>
          <label>
            Reason
            <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} />
          </label>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Open, send, mark paid and void, with the state of the viewer and the void dialog. */
function useInvoiceActions(base: string, reload: () => void) {
  const action = useAction();
  const [viewing, setViewing] = useState<{ title: string; html: string } | null>(null);
  const [voiding, setVoiding] = useState<Invoice | null>(null);
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<string | null>(null);

  const open = async (inv: Invoice) => {
    const html = await action.run(() => apiText(`${base}/${inv.id}/html`));
    if (html !== undefined) setViewing({ title: `Invoice ${inv.number}`, html });
  };
  const act = async (inv: Invoice, verb: 'paid' | 'send') => {
    setNotice(null);
    const r = await action.run(() =>
      api<{ invoice: Invoice; delivered?: boolean; error?: string }>(
        'POST',
        `${base}/${inv.id}/${verb}`,
      ),
    );
    if (r && verb === 'send')
      setNotice(
        r.delivered
          ? `${inv.number} sent.`
          : `${inv.number} not delivered: ${r.error ?? 'unknown error'}`,
      );
    reload();
  };
  const voidInvoice = async (inv: Invoice) => {
    setVoiding(null);
    await action.run(() => api('POST', `${base}/${inv.id}/void`, reason ? { reason } : {}));
    setReason('');
    reload();
  };

  return {
    action,
    viewing,
    setViewing,
    voiding,
    setVoiding,
    reason,
    setReason,
    notice,
    open,
    act,
    voidInvoice,
  };
}

function InvoicesTable({
  invoices,
  everyClient,
  canWrite,
  busy,
  onOpen,
  onAct,
  onVoid,
}: {
  invoices: Invoice[];
  everyClient: boolean;
  canWrite: boolean;
  busy: boolean;
  onOpen: (inv: Invoice) => void;
  onAct: (inv: Invoice, verb: 'paid' | 'send') => void;
  onVoid: (inv: Invoice) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>Number</th>
          {everyClient && <th>Client</th>}
          <th>Period</th>
          <th>Total</th>
          <th>Status</th>
          <th>Issued</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {invoices.map((inv) => (
          <tr key={inv.id}>
            <td>{inv.number}</td>
            {everyClient && <td>{inv.billTo.name}</td>}
            <td>{inv.period}</td>
            <td className="num">
              {inv.total} {inv.currency}
            </td>
            <td>
              <StatusBadge status={inv.status} />
            </td>
            <td>
              <When at={inv.issuedAt} />
            </td>
            <td className="row-actions">
              <button type="button" onClick={() => onOpen(inv)} disabled={busy}>
                Open
              </button>
              {canWrite && (inv.status === 'issued' || inv.status === 'sent') && (
                <>
                  <button type="button" onClick={() => onAct(inv, 'send')} disabled={busy}>
                    {inv.status === 'sent' ? 'Resend' : 'Send'}
                  </button>
                  <button type="button" onClick={() => onAct(inv, 'paid')} disabled={busy}>
                    Mark paid
                  </button>
                  <button type="button" className="danger" onClick={() => onVoid(inv)}>
                    Void
                  </button>
                </>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
