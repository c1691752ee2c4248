// The Hourglass dashboard: a page per hash route (#/, #/instance/WORKFLOW/KEY, #/task/ID,
// #/rejected), each drawn from the dashboard's JSON API and redrawn every REFRESH_MS.
// Everything is built with textContent (never innerHTML with data), so an event's content
// cannot inject markup. Actions POST JSON with the per-run token the server put in the page.
(() => {
  const REFRESH_MS = 10_000;
  const token = document.querySelector('meta[name="hourglass-token"]').content;
  const main = document.getElementById('main');
  const refreshed = document.getElementById('refreshed');
  let timer = null;
  let diagramCount = 0;

  window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral' });

  /** h('td', { class: 'num' }, 'text', childNode): an element with attributes and children. */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'onclick' || name === 'onsubmit') el[name] = value;
      else if (value !== undefined && value !== null) el.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      el.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return el;
  }

  async function api(path) {
    const response = await fetch(`/api/${path}`, {
      headers: { accept: 'application/json', 'x-hourglass-token': token },
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
    return body;
  }

  async function act(name, body) {
    const response = await fetch(`/api/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hourglass-token': token },
      body: JSON.stringify(body),
    });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error ?? `HTTP ${response.status}`);
    return result;
  }

  const when = (iso) => {
    if (iso === null || iso === undefined) return '–';
    const ms = Date.parse(iso) - Date.now();
    const abs = Math.abs(ms);
    const span =
      abs < 60_000
        ? `${Math.round(abs / 1000)}s`
        : abs < 3_600_000
          ? `${Math.round(abs / 60_000)}m`
          : abs < 172_800_000
            ? `${Math.round(abs / 3_600_000)}h`
            : `${Math.round(abs / 86_400_000)}d`;
    return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')} (${ms >= 0 ? 'in ' : ''}${span}${ms < 0 ? ' ago' : ''})`;
  };
  const taskLink = (id) => h('a', { href: `#/task/${encodeURIComponent(id)}`, class: 'mono' }, id);
  const instanceLink = (workflow, key) =>
    h(
      'a',
      { href: `#/instance/${encodeURIComponent(workflow)}/${encodeURIComponent(key)}` },
      `${workflow} / ${key}`,
    );
  const table = (head, rows) =>
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((c) => h('th', {}, c)),
        ),
      ),
      h('tbody', {}, rows),
    );

  /** A cancel (or retry) control: a reason field and a button that acts, then redraws. */
  function actionControl(label, action, taskId, className) {
    const reason = h('input', {
      placeholder: 'reason (required)',
      'aria-label': `${label} reason`,
      size: 24,
    });
    const message = h('span', { class: 'muted' });
    const button = h(
      'button',
      {
        class: className,
        onclick: async () => {
          if (reason.value.trim() === '') {
            message.textContent = 'say why: the reason is recorded in the history';
            reason.focus();
            return;
          }
          button.disabled = true;
          try {
            const result = await act(action, { taskId, reason: reason.value.trim() });
            message.textContent = `${result.outcome ?? 'done'}`;
            await render();
          } catch (error) {
            message.textContent = error.message;
            message.className = 'bad';
            button.disabled = false;
          }
        },
      },
      label,
    );
    return h('span', { class: 'actions' }, reason, button, message);
  }

  async function overviewPage() {
    const o = await api('overview');
    const chart = h('div', { id: 'timers-chart' });
    const totalDue = o.timers.reduce((n, b) => n + b.count, 0);
    const page = [
      h('h1', {}, 'Overview'),
      o.capped
        ? h(
            'p',
            { class: 'notice' },
            'More tasks than one overview reads: counts are at least these.',
          )
        : null,
      h(
        'section',
        { class: 'card' },
        h('h2', {}, `Pending timers, next ${o.timers.length} hours (${totalDue})`),
        chart,
        h(
          'p',
          { class: 'muted' },
          'Timers due in each hour, from the status index; the last bar holds everything later.',
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Tasks by type'),
        table(
          ['task type', 'waiting', 'due or running', 'failed', 'expired'],
          o.counts.map((c) =>
            h(
              'tr',
              {},
              h('td', {}, c.taskType),
              h('td', { class: 'num' }, c.waiting),
              h('td', { class: 'num' }, c.due),
              h('td', { class: c.failed ? 'num bad' : 'num' }, c.failed),
              h('td', { class: c.expired ? 'num bad' : 'num' }, c.expired),
            ),
          ),
        ),
        h(
          'p',
          { class: 'muted' },
          "Completed and cancelled tasks leave the status index; an instance's page shows them.",
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Failures and expiries, last 24 hours'),
        o.recentFailures.length === 0
          ? h('p', { class: 'good' }, 'None.')
          : table(
              ['task', 'status', 'instance', 'due'],
              o.recentFailures.map((f) =>
                h(
                  'tr',
                  {},
                  h('td', {}, taskLink(f.taskId)),
                  h('td', { class: 'bad' }, f.status),
                  h('td', {}, instanceLink(f.workflow, f.key)),
                  h('td', {}, when(f.runAt)),
                ),
              ),
            ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Dead-letter queues'),
        o.deadLetterQueues.length === 0
          ? h('p', { class: 'muted' }, 'No dead-letter queues known for this target.')
          : table(
              ['queue', 'messages'],
              o.deadLetterQueues.map((q) =>
                h(
                  'tr',
                  {},
                  h('td', {}, q.name),
                  h(
                    'td',
                    { class: q.messages ? 'num bad' : 'num' },
                    q.messages === null ? `unreadable: ${q.error}` : q.messages,
                  ),
                ),
              ),
            ),
      ),
    ];
    main.replaceChildren(...page.filter(Boolean));
    drawChart(chart, o.timers);
  }

  function drawChart(el, buckets) {
    const xs = buckets.map((b) => Date.parse(b.from) / 1000);
    const ys = buckets.map((b) => b.count);
    const uPlot = window.uPlot;
    new uPlot(
      {
        width: Math.min(1100, main.clientWidth - 40),
        height: 220,
        scales: { x: { time: true } },
        legend: { show: false },
        series: [
          {},
          {
            label: 'timers due',
            stroke: '#1769aa',
            fill: 'rgba(23,105,170,0.35)',
            paths: uPlot.paths.bars({ size: [0.8, 40] }),
            points: { show: false },
          },
        ],
        axes: [{}, { label: 'timers' }],
      },
      [xs, ys],
      el,
    );
  }

  async function instancePage(workflow, key) {
    const { workflows } = await api('meta');
    const select = h(
      'select',
      { name: 'workflow', 'aria-label': 'workflow' },
      workflows.map((w) =>
        h('option', w === workflow ? { value: w, selected: '' } : { value: w }, w),
      ),
    );
    const input = h('input', {
      name: 'key',
      placeholder: 'key, e.g. u1',
      value: key ?? '',
      'aria-label': 'key',
    });
    const form = h(
      'form',
      {
        class: 'search',
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = `#/instance/${encodeURIComponent(select.value)}/${encodeURIComponent(input.value.trim())}`;
        },
      },
      select,
      input,
      h('button', { class: 'primary', type: 'submit' }, 'Search'),
    );
    const page = [h('h1', {}, 'Search a key'), h('section', { class: 'card' }, form)];
    if (workflow === undefined || key === undefined || key === '') {
      main.replaceChildren(...page);
      return;
    }
    const r = await api(
      `instance?workflow=${encodeURIComponent(workflow)}&key=${encodeURIComponent(key)}`,
    );
    const diagram = h('div', { class: 'diagram' });
    page.push(
      h(
        'section',
        { class: 'card', id: 'instance' },
        h('h2', {}, `${r.workflow} / ${r.key}`),
        r.found
          ? h(
              'p',
              {},
              'State ',
              h('span', { class: 'state', id: 'state' }, r.state),
              r.final ? ' (final)' : '',
              ' · context ',
              h('code', {}, JSON.stringify(r.context)),
            )
          : h(
              'p',
              { class: 'muted' },
              'No instance: no event for this key was accepted, or it expired.',
            ),
        diagram,
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Pending tasks'),
        r.pending.length === 0
          ? h('p', { class: 'muted', id: 'no-pending' }, 'No pending tasks.')
          : table(
              ['task', 'status', 'due', 'what cancels or changes it', ''],
              r.pending.map((t) =>
                h(
                  'tr',
                  { 'data-task': t.taskId },
                  h('td', {}, taskLink(t.taskId), h('div', { class: 'muted' }, t.taskType)),
                  h('td', {}, t.status, t.attempt ? ` (attempt ${t.attempt})` : ''),
                  h(
                    'td',
                    {},
                    when(t.dueAt),
                    t.deadlineAt
                      ? h('div', { class: 'muted' }, `deadline ${when(t.deadlineAt)}`)
                      : null,
                  ),
                  h(
                    'td',
                    { class: 'influences' },
                    t.influences.length === 0
                      ? h('span', { class: 'muted' }, 'nothing in this state')
                      : t.influences.map((i) =>
                          h(
                            'div',
                            {},
                            `${i.effect} by `,
                            h('code', {}, i.trigger),
                            i.guarded ? ' (when its guard holds)' : '',
                            ` → ${i.target}`,
                          ),
                        ),
                  ),
                  h(
                    'td',
                    {},
                    t.status === 'SCHEDULED'
                      ? actionControl('Cancel', 'cancel', t.taskId, 'danger')
                      : null,
                  ),
                ),
              ),
            ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'History'),
        r.foldedEvents
          ? h('p', { class: 'muted' }, 'Older events are folded into a snapshot.')
          : null,
        table(
          ['at', 'kind', ''],
          r.history.map((line) =>
            h(
              'tr',
              { class: line.marked ? 'marked' : '' },
              h('td', { class: 'mono' }, line.at),
              h('td', {}, line.kind),
              h('td', {}, line.marked ? '! ' : '', line.text),
            ),
          ),
        ),
      ),
    );
    main.replaceChildren(...page.filter(Boolean));
    const { svg } = await window.mermaid.render(`fsm${++diagramCount}`, r.diagram);
    diagram.innerHTML = svg; // produced by mermaid in strict mode from our own definition
  }

  async function taskPage(taskId) {
    const t = await api(`task?id=${encodeURIComponent(taskId)}`);
    const controls = [];
    if (t.status === 'SCHEDULED')
      controls.push(actionControl('Cancel', 'cancel', t.taskId, 'danger'));
    if (t.status === 'FAILED' || t.status === 'EXPIRED')
      controls.push(actionControl('Retry', 'retry', t.taskId, 'primary'));
    main.replaceChildren(
      h('h1', {}, 'Task ', h('span', { class: 'mono' }, t.taskId)),
      h(
        'section',
        { class: 'card' },
        table(
          ['', ''],
          [
            ['instance', instanceLink(t.workflow, t.key)],
            ['task type', t.taskType],
            [
              'status',
              h(
                'span',
                { class: /FAILED|EXPIRED/.test(t.status) ? 'bad' : '', id: 'task-status' },
                t.status,
              ),
            ],
            ['attempts', String(t.attempt)],
            ['due', when(t.dueAt)],
            ['next attempt', t.runAt === t.dueAt ? '–' : when(t.runAt)],
            ['deadline', when(t.deadlineAt)],
            ['started', when(t.startedAt)],
            ['finished', when(t.finishedAt)],
            ['last error', t.lastError ?? '–'],
            ['input', h('code', {}, JSON.stringify(t.input))],
            ['result', t.result === null ? '–' : h('code', {}, JSON.stringify(t.result))],
          ].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
        ),
        controls.length ? h('div', { class: 'actions' }, controls) : null,
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Timeline'),
        table(
          ['at', 'status', 'cause'],
          t.timeline.map((e) =>
            h(
              'tr',
              {},
              h('td', { class: 'mono' }, e.at),
              h('td', {}, e.status),
              h('td', {}, e.cause),
            ),
          ),
        ),
        t.lateCancels.length
          ? h(
              'p',
              { class: 'marked' },
              `Late cancels (came after it started): ${t.lateCancels.join(', ')}`,
            )
          : null,
      ),
    );
  }

  async function rejectedPage() {
    const { events, more } = await api('rejected');
    main.replaceChildren(
      h('h1', {}, 'Rejected events'),
      h(
        'section',
        { class: 'card' },
        events.length === 0
          ? h('p', { class: 'good' }, 'No rejected events in the last 7 days.')
          : table(
              ['received', 'workflow', 'reason', 'event'],
              events.map((e) =>
                h(
                  'tr',
                  {},
                  h('td', { class: 'mono' }, e.receivedAt),
                  h('td', {}, e.workflow ?? '–'),
                  h('td', {}, e.reason),
                  h('td', {}, h('code', {}, e.event)),
                ),
              ),
            ),
        more ? h('p', { class: 'muted' }, 'More not shown: use hourglass rejected --json.') : null,
      ),
    );
  }

  async function render() {
    const [, page, ...rest] = location.hash.replace(/^#/, '').split('/');
    const parts = rest.map(decodeURIComponent);
    try {
      if (page === 'instance') await instancePage(parts[0], parts.slice(1).join('/') || undefined);
      else if (page === 'task') await taskPage(parts.join('/'));
      else if (page === 'rejected') await rejectedPage();
      else await overviewPage();
      refreshed.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      main.replaceChildren(h('p', { class: 'error' }, error.message));
    }
  }

  /** Redraws every REFRESH_MS, but never while the operator is typing a reason. */
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typing =
        document.activeElement?.tagName === 'INPUT' && document.activeElement.value !== '';
      if (!typing) await render();
      schedule();
    }, REFRESH_MS);
  }

  window.addEventListener('hashchange', () => render().then(schedule));
  render().then(schedule);
})();
