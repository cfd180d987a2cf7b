/*
 * Fenix dashboard loader (public behind Keystone: it holds no data).
 *
 * It finds the token (URL fragment "#token=...", the login form, or the
 * one this tab kept), then fetches the dashboard application and its
 * styles with it (X-Auth-Token), which the API checks like any request
 * (auth_token, then the policy rule fenix:dashboard:get), and runs them.
 * With auth_strategy = noauth no token is needed.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'fenix.dashboard.token';
  var statusEl = document.getElementById('status');
  var loginForm = document.getElementById('login');
  var forgetButton = document.getElementById('forget');

  function storage() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null;
    }
  }

  var memoryToken = '';

  function getToken() {
    var s = storage();
    return (s && s.getItem(TOKEN_KEY)) || memoryToken;
  }

  function setToken(token) {
    memoryToken = token || '';
    var s = storage();
    if (s) {
      if (token) {
        s.setItem(TOKEN_KEY, token);
      } else {
        s.removeItem(TOKEN_KEY);
      }
    }
    forgetButton.hidden = !token;
  }

  /* The fragment's parameters ("#session=ID&token=T"). */
  function hashParams() {
    return new URLSearchParams(window.location.hash.replace(/^#/, ''));
  }

  function setHashParams(params) {
    var text = params.toString();
    var url = window.location.pathname + window.location.search +
      (text ? '#' + text : '');
    window.history.replaceState(null, '', url);
  }

  /* A token in the fragment is taken and removed from the address bar
   * (and so from the history). */
  (function takeTokenFromFragment() {
    var params = hashParams();
    if (params.has('token')) {
      setToken(params.get('token'));
      params.delete('token');
      setHashParams(params);
    }
  })();

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('error', !!isError);
  }

  function HTTPError(status, message) {
    this.status = status;
    this.message = message;
  }

  function errorMessage(response) {
    return response.text().then(function (text) {
      try {
        var doc = JSON.parse(text);
        if (doc && doc.error && doc.error.message) {
          return doc.error.message;
        }
      } catch (e) { /* not JSON */ }
      return response.status + ' ' + response.statusText;
    }, function () {
      return response.status + ' ' + response.statusText;
    });
  }

  /* fetch() with the token; rejects with an HTTPError (status, API
   * message) when the answer is not 2xx. */
  function request(url, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    var token = getToken();
    if (token) {
      headers.set('X-Auth-Token', token);
    }
    headers.set('Accept', headers.get('Accept') || 'application/json');
    return fetch(url, {
      method: options.method || 'GET',
      headers: headers,
      cache: 'no-store',
      credentials: 'omit'
    }).then(function (response) {
      if (response.ok) {
        return response;
      }
      return errorMessage(response).then(function (message) {
        var error = new HTTPError(response.status, message);
        if (response.status === 401) {
          showLogin(token ? 'The API refused the token (' + message + ').'
                          : 'This Fenix API needs a Keystone token.');
        }
        throw error;
      });
    });
  }

  function showLogin(message) {
    setToken('');
    document.getElementById('login-message').textContent = message;
    loginForm.hidden = false;
    document.getElementById('app').hidden = true;
    setStatus('Token needed', true);
    if (window.fenixDashboard && window.fenixDashboard.stop) {
      window.fenixDashboard.stop();
    }
  }

  loginForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var input = document.getElementById('token');
    setToken(input.value.trim());
    input.value = '';
    loginForm.hidden = true;
    document.getElementById('app').hidden = false;
    load();
  });

  forgetButton.addEventListener('click', function () {
    showLogin('Token forgotten.');
  });

  var loaded = false;

  function load() {
    if (loaded) {
      window.fenixDashboard.start();
      return;
    }
    setStatus('Loading…');
    Promise.all([
      request('app.css', {headers: {Accept: 'text/css'}}),
      request('app.js', {headers: {Accept: 'text/javascript'}})
    ]).then(function (answers) {
      return Promise.all([answers[0].blob(), answers[1].blob()]);
    }).then(function (blobs) {
      var link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = URL.createObjectURL(blobs[0]);
      document.head.appendChild(link);
      var script = document.createElement('script');
      script.src = URL.createObjectURL(
        new Blob([blobs[1]], {type: 'text/javascript'}));
      document.body.appendChild(script);
      loaded = true;
    }).catch(function (error) {
      if (error instanceof HTTPError) {
        if (error.status === 401) {
          return;  /* the login form is shown */
        }
        setStatus('Not allowed: ' + error.message, true);
      } else {
        setStatus('Cannot load the dashboard: ' + error, true);
      }
    });
  }

  /* What the application (app.js) uses. */
  window.fenixDashboard = {
    request: request,
    HTTPError: HTTPError,
    setStatus: setStatus,
    hashParams: hashParams,
    setHashParams: setHashParams,
    showLogin: showLogin,
    start: null,
    stop: null
  };

  forgetButton.hidden = !getToken();
  load();
})();
