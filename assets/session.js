// A page left open after its session ended (idle time-out, password changed elsewhere, account
// disabled) would otherwise stop updating with nothing said: the server answers its callbacks
// 401. The first such answer takes the page to the sign-in form, which brings it back here.
(function () {
    if (!window.fetch || window.__deskboardSessionWatch) {
        return;
    }
    window.__deskboardSessionWatch = true;
    var original = window.fetch.bind(window);
    var leaving = false;
    window.fetch = function (resource, init) {
        return original(resource, init).then(function (response) {
            var url = typeof resource === "string" ? resource : (resource && resource.url) || "";
            if (!leaving && response.status === 401 && url.indexOf("_dash-update-component") !== -1
                && response.headers.get("X-Deskboard-Access") === "refused") {
                leaving = true;
                var here = window.location.pathname + window.location.search;
                window.location.assign("/signin?reason=idle&next=" + encodeURIComponent(here));
            }
            if (leaving) {
                // The page is going: the renderer need not report a refusal nobody will read.
                return new Promise(function () {});
            }
            return response;
        });
    };
})();
