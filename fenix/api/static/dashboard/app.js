/*
 * Fenix dashboard application (loaded by boot.js with the token).
 *
 * It polls the JSON API (GET /v1/maintenance, /v1/maintenance/{id} and
 * /v1/maintenance/{id}/detail) and shows the sessions, and for the chosen
 * one ("#session=ID" in the address) its hosts coloured by state, the
 * waves of the plan, the moves in flight, the projects' replies, the
 * progress and ETA, and the history of events. "#poll=SECONDS" sets how
 * often it asks (default 2, at least 0.25). Everything from the API is
 * written as text (textContent), never as HTML.
 */
(function () {
  'use strict';

  var fd = window.fenixDashboard;
  var API = '../v1/maintenance';
  var DEFAULT_POLL = 2;
  var MIN_POLL = 0.25;
  var HISTORY_ROWS = 500;
  var HOST_STATES = ['PENDING', 'EMPTYING', 'IN_MAINTENANCE', 'MAINTAINED',
                     'FAILED', 'SKIPPED'];
  var FINAL_STATES = ['MAINTENANCE_DONE', 'MAINTENANCE_FAILED'];
  var MOVE_KINDS = ['move', 'own_action'];

  var app = document.getElementById('app');
  var timer = null;
  var running = false;
  var generation = 0;
  var lastShown = null;

  /* --- DOM helpers ------------------------------------------------------ */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === 'text') {
        node.textContent = String(value);
      } else if (name === 'class') {
        node.className = value;
      } else if (name === 'onclick') {
        node.addEventListener('click', value);
      } else {
        node.setAttribute(name, value === true ? '' : String(value));
      }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) {
        return;
      }
      node.appendChild(typeof child === 'string' ?
        document.createTextNode(child) : child);
    });
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function replaceChildren(node, children) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    children.forEach(function (child) {
      node.appendChild(child);
    });
  }

  function table(id, columns, rows, empty) {
    var head = el('tr', {}, columns.map(function (c) {
      return el('th', {text: c});
    }));
    var body = el('tbody');
    rows.forEach(function (row) {
      body.appendChild(row);
    });
    var node = el('table', {id: id, class: 'data'},
                  [el('thead', {}, [head]), body]);
    if (!rows.length) {
      return el('div', {}, [node, el('p', {class: 'empty', id: id + '-empty',
                                            text: empty})]);
    }
    return node;
  }

  function cells(values, attrs) {
    return el('tr', attrs || {}, values.map(function (v) {
      if (v instanceof Node) {
        return el('td', {}, [v]);
      }
      return el('td', {text: v === null || v === undefined ? '–' : v});
    }));
  }

  /* --- words ------------------------------------------------------------ */

  function label(state) {
    return String(state || '').toLowerCase().replace(/_/g, ' ');
  }

  function shortId(id) {
    return String(id || '').slice(0, 8);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return null;
    }
    seconds = Math.round(seconds);
    if (seconds < 90) {
      return seconds + ' s';
    }
    if (seconds < 5400) {
      return Math.round(seconds / 60) + ' min';
    }
    return (seconds / 3600).toFixed(1) + ' h';
  }

  function stateBadge(state, id) {
    return el('span', {class: 'badge', 'data-state': state, id: id,
                       text: label(state)});
  }

  /* --- hash parameters -------------------------------------------------- */

  function selected() {
    return fd.hashParams().get('session') || '';
  }

  function select(sessionId) {
    var params = fd.hashParams();
    if (sessionId) {
      params.set('session', sessionId);
    } else {
      params.delete('session');
    }
    fd.setHashParams(params);
    refresh();
  }

  function pollSeconds() {
    var value = parseFloat(fd.hashParams().get('poll'));
    if (!isFinite(value)) {
      return DEFAULT_POLL;
    }
    return Math.max(MIN_POLL, value);
  }

  function getJSON(path) {
    return fd.request(path).then(function (response) {
      return response.json();
    });
  }

  /* --- the session list ------------------------------------------------- */

  function renderSessions(sessions) {
    var current = selected();
    sessions = sessions.slice().sort(function (a, b) {
      return String(b.created_at).localeCompare(String(a.created_at));
    });
    var rows = sessions.map(function (s) {
      var row = cells([
        el('a', {href: '#session=' + encodeURIComponent(s.session_id),
                 class: 'session-link', title: s.session_id,
                 text: shortId(s.session_id)}),
        stateBadge(s.state),
        s.workflow,
        (s.hosts_done || 0) + ' / ' + (s.hosts_total || 0) +
          (s.hosts_skipped ? ' (' + s.hosts_skipped + ' skipped)' : ''),
        (s.percent_done === null || s.percent_done === undefined ?
          '–' : s.percent_done + ' %'),
        s.dry_run ? 'dry run' : (s.eta || '–'),
        s.created_at
      ], {'data-session': s.session_id,
          class: s.session_id === current ? 'selected' : null});
      row.addEventListener('click', function (event) {
        event.preventDefault();
        select(s.session_id);
      });
      return row;
    });
    replaceChildren(byId('sessions-body'), [
      table('sessions', ['Session', 'State', 'Workflow', 'Hosts done',
                         'Progress', 'ETA (UTC)', 'Created (UTC)'],
            rows, 'No maintenance session.')
    ]);
  }

  /* --- one session ------------------------------------------------------ */

  function wavesOf(detail) {
    var plan = detail.plan || {};
    var sources = [plan.nfv, plan.dry_run, plan];
    for (var i = 0; i < sources.length; i++) {
      var source = sources[i];
      if (source && Array.isArray(source.waves) && source.waves.length) {
        return source.waves.map(function (w) {
          return {hosts: w.hosts || [], moves: (w.moves || []).length,
                  start: w.start, end: w.end};
        });
      }
    }
    /* From the stored steps: their wave, or one host a wave in the
     * order of the plan (the default workflow). */
    var order = [];
    var byWave = {};
    var waveNumbers = [];
    (detail.steps || []).forEach(function (step) {
      if (!step.host || step.kind !== 'maintain_host') {
        return;
      }
      if (order.indexOf(step.host) < 0) {
        order.push(step.host);
      }
      if (step.wave !== null && step.wave !== undefined) {
        if (!byWave[step.wave]) {
          byWave[step.wave] = [];
          waveNumbers.push(step.wave);
        }
        byWave[step.wave].push(step.host);
      }
    });
    if (waveNumbers.length) {
      waveNumbers.sort(function (a, b) { return a - b; });
      return waveNumbers.map(function (n) {
        return {hosts: byWave[n], moves: (detail.steps || []).filter(
          function (s) { return s.wave === n && s.kind === 'move'; }).length};
      });
    }
    if (!order.length) {
      order = (detail.hosts || []).filter(function (h) {
        return h.type !== 'controller';
      }).map(function (h) { return h.hostname; });
    }
    return order.map(function (host) {
      return {hosts: [host], moves: null};
    });
  }

  function waveState(wave, hostStates) {
    var states = wave.hosts.map(function (h) { return hostStates[h]; });
    if (states.some(function (s) { return s === 'FAILED'; })) {
      return 'FAILED';
    }
    if (states.length && states.every(function (s) {
      return s === 'MAINTAINED' || s === 'SKIPPED';
    })) {
      return 'DONE';
    }
    if (states.some(function (s) {
      return s === 'EMPTYING' || s === 'IN_MAINTENANCE' || s === 'MAINTAINED';
    })) {
      return 'RUNNING';
    }
    return 'PENDING';
  }

  function renderHosts(detail) {
    var hosts = (detail.hosts || []).slice().sort(function (a, b) {
      return String(a.hostname).localeCompare(String(b.hostname),
                                              undefined, {numeric: true});
    });
    var tiles = hosts.map(function (h) {
      var state = h.state || 'PENDING';
      var note = h.details && h.details.skipped ? h.details.skipped : null;
      return el('div', {class: 'host', 'data-host': h.hostname,
                        'data-state': state,
                        title: h.hostname + ': ' + label(state) +
                          (note ? ' (' + note + ')' : '')}, [
        el('span', {class: 'host-name', text: h.hostname}),
        el('span', {class: 'host-state', text: label(state)}),
        h.type === 'controller' ?
          el('span', {class: 'host-type', text: 'controller'}) : null,
        h.skip_requested && state !== 'SKIPPED' ?
          el('span', {class: 'host-type', text: 'skip requested'}) : null
      ]);
    });
    var grid = el('div', {id: 'hosts', class: 'grid'}, tiles);
    if (!tiles.length) {
      grid.appendChild(el('p', {class: 'empty', text: 'No host yet.'}));
    }
    return grid;
  }

  function renderWaves(detail) {
    var hostStates = {};
    (detail.hosts || []).forEach(function (h) {
      hostStates[h.hostname] = h.state;
    });
    var waves = wavesOf(detail);
    var items = waves.map(function (wave, i) {
      var state = waveState(wave, hostStates);
      var words = [];
      if (wave.moves !== null && wave.moves !== undefined) {
        words.push(wave.moves + (wave.moves === 1 ? ' move' : ' moves'));
      }
      if (wave.start !== undefined && wave.end !== undefined) {
        words.push('planned ' + duration(wave.start) + ' → ' +
                   duration(wave.end));
      }
      return el('li', {class: 'wave', 'data-wave': i, 'data-state': state}, [
        el('span', {class: 'wave-name', text: 'Wave ' + (i + 1)}),
        el('span', {class: 'wave-hosts'}, wave.hosts.map(function (h) {
          return el('span', {class: 'chip', 'data-state': hostStates[h] ||
                             'PENDING', text: h});
        })),
        el('span', {class: 'wave-words', text: words.join(' · ')})
      ]);
    });
    var list = el('ol', {id: 'waves', class: 'waves'}, items);
    if (!items.length) {
      return el('p', {id: 'waves', class: 'empty', text: 'No plan yet.'});
    }
    return list;
  }

  function plannedTargets(detail) {
    var targets = {};
    var plan = detail.plan || {};
    [plan.nfv, plan.dry_run, plan].forEach(function (source) {
      ((source && source.waves) || []).forEach(function (wave) {
        (wave.moves || []).forEach(function (move) {
          targets[move.instance_id + '@' + move.source] = move.target;
        });
      });
    });
    return targets;
  }

  function renderMoves(detail) {
    var instances = {};
    (detail.instances || []).forEach(function (i) {
      instances[i.instance_id] = i;
    });
    var targets = plannedTargets(detail);
    var moves = [];
    var seen = {};
    (detail.steps || []).forEach(function (step) {
      if (MOVE_KINDS.indexOf(step.kind) >= 0 && step.state === 'RUNNING') {
        seen[step.instance_id] = true;
        moves.push({instance_id: step.instance_id, kind: step.kind,
                    source: step.host, project_id: step.project_id,
                    started_at: step.started_at});
      }
    });
    (detail.instances || []).forEach(function (i) {
      if (i.action_state === 'IN_PROGRESS' && !seen[i.instance_id]) {
        moves.push({instance_id: i.instance_id, kind: i.action,
                    source: (i.details && i.details.move_from) || i.host,
                    project_id: i.project_id, started_at: null});
      }
    });
    var rows = moves.map(function (m) {
      var inst = instances[m.instance_id] || {};
      return cells([inst.instance_name || shortId(m.instance_id),
                    label(inst.action || m.kind), m.source,
                    targets[m.instance_id + '@' + m.source] || 'scheduler',
                    shortId(m.project_id), m.started_at],
                   {'data-instance': m.instance_id, class: 'move'});
    });
    return table('moves', ['Instance', 'Action', 'From', 'To', 'Project',
                           'Started (UTC)'], rows, 'No move in flight.');
  }

  function replyState(p) {
    if (p.reply) {
      return p.reply;
    }
    if (!p.has_manager) {
      return 'no manager: default action';
    }
    return p.event ? 'waiting' : 'no event yet';
  }

  function renderProjects(detail) {
    var rows = (detail.projects || []).map(function (p) {
      var state = replyState(p);
      var actions = Object.keys(p.instance_actions || {}).length;
      return cells([
        el('span', {title: p.project_id, text: shortId(p.project_id)}),
        p.has_manager ? 'yes' : 'no',
        p.event, p.event_at,
        el('span', {class: 'reply', 'data-reply': state, text: state}),
        p.replied_at,
        actions ? String(actions) : '–'
      ], {'data-project': p.project_id});
    });
    return table('projects', ['Project', 'Manager', 'Last event',
                              'Sent (UTC)', 'Reply', 'Replied (UTC)',
                              'Instance actions'],
                 rows, 'No project affected yet.');
  }

  function renderHistory(detail) {
    var events = (detail.history || []).slice().reverse();
    var more = events.length - HISTORY_ROWS;
    var rows = events.slice(0, HISTORY_ROWS).map(function (e) {
      return cells([e.created_at, e.kind, e.host || e.state ||
                    shortId(e.project_id || e.instance_id) || '–',
                    e.message], {class: 'event', 'data-kind': e.kind});
    });
    var node = table('history', ['Time (UTC)', 'Kind', 'About', 'Message'],
                     rows, 'No event yet.');
    if (more > 0) {
      return el('div', {}, [node, el('p', {class: 'empty',
        text: more + ' older events not shown.'})]);
    }
    return node;
  }

  function renderSummary(summary) {
    var total = summary.hosts_total || 0;
    var done = summary.hosts_done || 0;
    var percent = summary.percent_done || 0;
    var progress = el('progress', {id: 'progress', max: 100,
                                   value: percent});
    var words = done + ' of ' + total + ' hosts maintained' +
      (summary.hosts_skipped ? ', ' + summary.hosts_skipped + ' skipped' :
        '') + ' (' + percent + ' %)';
    var eta;
    if (summary.dry_run) {
      eta = 'Dry run: a real run would take about ' +
        duration(summary.estimated_duration) + '.';
    } else if (FINAL_STATES.indexOf(summary.state) >= 0) {
      eta = summary.state === 'MAINTENANCE_DONE' ?
        'Ended ' + (summary.eta || summary.updated_at) + ' UTC.' :
        'Failed in ' + label(summary.failed_state) + '.';
    } else if (summary.eta) {
      eta = 'ETA ' + summary.eta + ' UTC (' +
        duration(summary.seconds_left) + ' left).';
    } else if (summary.state === 'PAUSED') {
      eta = 'Paused: no ETA.';
    } else {
      eta = 'ETA not known yet.';
    }
    var facts = [
      ['Workflow', summary.workflow],
      ['Maintenance at', summary.maintenance_at ?
        summary.maintenance_at + ' UTC' : null],
      ['Planned duration', duration(summary.estimated_duration)],
      ['Engine', summary.engine],
      ['Updated', summary.updated_at ? summary.updated_at + ' UTC' : null]
    ].filter(function (f) { return f[1]; });
    return el('div', {id: 'summary'}, [
      el('h2', {}, [
        'Session ', el('code', {id: 'session-id',
                                text: summary.session_id}), ' ',
        stateBadge(summary.state, 'session-state'),
        summary.pause_requested ?
          el('span', {class: 'badge', text: 'pause requested'}) : null
      ]),
      el('div', {class: 'progress-line'}, [
        progress, el('span', {id: 'progress-text', text: words})]),
      el('p', {id: 'eta', text: eta}),
      summary.error ? el('p', {id: 'session-error', class: 'error',
                               text: summary.error}) : null,
      el('dl', {class: 'facts'}, [].concat.apply([], facts.map(function (f) {
        return [el('dt', {text: f[0]}), el('dd', {text: f[1]})];
      })))
    ]);
  }

  function legend() {
    return el('div', {class: 'legend'}, HOST_STATES.map(function (s) {
      return el('span', {class: 'chip', 'data-state': s, text: label(s)});
    }));
  }

  function section(title, body) {
    return el('section', {class: 'panel'}, [el('h3', {text: title}), body]);
  }

  function renderSession(summary, detail, detailError) {
    var children = [renderSummary(summary)];
    if (detail) {
      children.push(
        section('Hosts', el('div', {}, [renderHosts(detail), legend()])),
        el('div', {class: 'columns'}, [
          section('Waves of the plan', renderWaves(detail)),
          section('Moves in flight', renderMoves(detail))
        ]),
        section('Projects', renderProjects(detail)),
        section('History', renderHistory(detail)));
    } else if (detailError) {
      children.push(el('p', {class: 'error', text: 'No detail: ' +
                             detailError}));
    }
    replaceChildren(byId('session-body'), children);
    byId('session-body').hidden = false;
  }

  /* --- polling ---------------------------------------------------------- */

  function describe(error) {
    if (error instanceof fd.HTTPError) {
      return error.status + ': ' + error.message;
    }
    return String(error && error.message || error);
  }

  function render(sessionId, answers) {
    renderSessions(answers[0].sessions || []);
    if (sessionId) {
      var detail = answers[2] && !answers[2].error ? answers[2] : null;
      renderSession(answers[1], detail, answers[2] && answers[2].error);
    } else {
      byId('session-body').hidden = true;
    }
  }

  function poll(mine) {
    var sessionId = selected();
    var work = [getJSON(API)];
    if (sessionId) {
      var path = API + '/' + encodeURIComponent(sessionId);
      work.push(getJSON(path));
      work.push(getJSON(path + '/detail').then(null, function (error) {
        if (error instanceof fd.HTTPError && error.status === 403) {
          return {error: describe(error)};
        }
        throw error;
      }));
    }
    return Promise.all(work).then(function (answers) {
      if (mine !== generation) {
        return;
      }
      var shown = JSON.stringify([sessionId, answers]);
      if (shown !== lastShown) {
        render(sessionId, answers);
        lastShown = shown;
      }
      document.body.setAttribute('data-polls', String(
        parseInt(document.body.getAttribute('data-polls') || '0', 10) + 1));
      fd.setStatus('Updated ' + new Date().toLocaleTimeString() +
                   ' · every ' + pollSeconds() + ' s');
    }, function (error) {
      if (mine !== generation) {
        return;
      }
      if (error instanceof fd.HTTPError && error.status === 404 &&
          sessionId) {
        fd.setStatus('Session ' + sessionId + ' not found', true);
        byId('session-body').hidden = true;
        lastShown = null;
        return;
      }
      fd.setStatus('Cannot reach the API (' + describe(error) +
                   '); trying again', true);
    });
  }

  /* One loop of polls at a time: a refresh starts a new generation, and
   * the loop of an older one ends. */
  function loop(mine) {
    function next() {
      if (running && mine === generation) {
        timer = window.setTimeout(function () {
          loop(mine);
        }, pollSeconds() * 1000);
      }
    }
    poll(mine).then(next, function (error) {
      fd.setStatus('Dashboard error: ' + describe(error), true);
      next();
    });
  }

  function refresh() {
    generation += 1;
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
    if (running) {
      loop(generation);
    }
  }

  function start() {
    if (running) {
      return;
    }
    running = true;
    app.hidden = false;
    refresh();
  }

  function stop() {
    running = false;
    generation += 1;
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
  }

  replaceChildren(app, [
    el('section', {class: 'panel', id: 'sessions-panel'}, [
      el('h2', {text: 'Sessions'}),
      el('div', {id: 'sessions-body'})
    ]),
    el('div', {id: 'session-body', hidden: true})
  ]);
  window.addEventListener('hashchange', refresh);
  fd.start = start;
  fd.stop = stop;
  start();
})();
