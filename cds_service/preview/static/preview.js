// Card preview page: build the hook request (/preview/request), call the real hook endpoint as an
// EHR would, draw the answer (/preview/render), and post feedback to the real feedback endpoint.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const scenarios = JSON.parse($("#scenario-data").textContent);

let lastServiceId = null;

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function authHeaders() {
  const field = $("#jwt");
  const token = field ? field.value.trim() : "";
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = text; }
  return { status: response.status, body: parsed };
}

function source() {
  return document.querySelector("input[name=source]:checked").value;
}

function showOrderFields() {
  const hook = $("#service").selectedOptions[0]?.dataset.hook || "";
  $(".orders").hidden = !hook.startsWith("order-");
}

function scenarioChosen() {
  const chosen = scenarios.find((s) => s.name === $("#scenario").value);
  if (!chosen) return;
  $("#service").value = chosen.serviceId;
  $("#draft-orders").value = chosen.draftOrders.length ? pretty(chosen.draftOrders) : "";
  $("#selections").value = chosen.selections.join(", ");
  showOrderFields();
}

function sourceChosen() {
  const fromScenario = source() === "scenario";
  $(".source-scenario").hidden = !fromScenario;
  $(".source-bundle").hidden = fromScenario;
  if (fromScenario) scenarioChosen();
}

function parseField(selector, what) {
  const text = $(selector).value.trim();
  if (!text) return null;
  try { return JSON.parse(text); } catch (error) { throw new Error(`${what} is not JSON: ${error.message}`); }
}

function previewRequest() {
  const asked = { serviceId: $("#service").value };
  const hook = $("#service").selectedOptions[0]?.dataset.hook || "";
  if (hook.startsWith("order-")) {
    const orders = parseField("#draft-orders", "Draft orders");
    if (orders !== null) asked.draftOrders = orders;
    const selections = $("#selections").value.split(",").map((s) => s.trim()).filter(Boolean);
    asked.selections = selections;
  }
  if (source() === "scenario") {
    asked.scenario = $("#scenario").value;
  } else {
    asked.bundle = parseField("#bundle", "The bundle");
    if (asked.bundle === null) throw new Error("Paste or upload a FHIR Bundle first.");
    const asOf = $("#as-of").value.trim();
    if (asOf) asked.asOf = asOf;
  }
  return asked;
}

function setStatus(text) {
  $("#call-status").textContent = text;
}

function measureCards() {
  for (const card of document.querySelectorAll(".card")) {
    $(".card-height", card).textContent = `${Math.round(card.getBoundingClientRect().height)} px`;
  }
}

async function run(event) {
  event.preventDefault();
  $("#cards").innerHTML = "";
  $("#raw-request").textContent = "";
  $("#raw-response").textContent = "";
  $("#explain").textContent = "";
  let built;
  try {
    built = await postJson("/preview/request", previewRequest());
  } catch (error) {
    setStatus(error.message);
    return;
  }
  if (built.status !== 200) {
    setStatus(`Could not build the request: ${built.body?.message || built.status}`);
    $("#raw-response").textContent = pretty(built.body);
    return;
  }
  const { serviceId, request } = built.body;
  lastServiceId = serviceId;
  $("#raw-request").textContent = `POST /cds-services/${serviceId}\n\n${pretty(request)}`;
  setStatus("calling…");
  const answer = await postJson(`/cds-services/${encodeURIComponent(serviceId)}`, request, authHeaders());
  $("#raw-response").textContent = `HTTP ${answer.status}\n\n${pretty(answer.body)}`;
  const drawn = await fetch("/preview/render", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ status: answer.status, response: answer.body }),
  });
  $("#cards").innerHTML = await drawn.text();
  const count = document.querySelectorAll(".card").length;
  setStatus(`HTTP ${answer.status}, ${count} card${count === 1 ? "" : "s"}`);
  measureCards();
  await explain(serviceId, request);
}

async function explain(serviceId, request) {
  const panel = $("#explain");
  panel.textContent = "explaining…";
  const answer = await fetch("/preview/explain", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ serviceId, request }),
  });
  if (answer.ok) {
    panel.innerHTML = await answer.text();
  } else {
    const body = await answer.json().catch(() => ({}));
    panel.textContent = `No explanation: HTTP ${answer.status} ${body.message || ""}`;
  }
}

async function sendFeedback(card, item) {
  const status = $(".feedback-status", card);
  const body = { feedback: [{ card: card.dataset.card, outcomeTimestamp: new Date().toISOString(), ...item }] };
  const answer = await postJson(`/cds-services/${encodeURIComponent(lastServiceId)}/feedback`, body, authHeaders());
  $("#raw-response").textContent += `\n\nPOST /cds-services/${lastServiceId}/feedback\n${pretty(body)}\nHTTP ${answer.status}\n${pretty(answer.body)}`;
  if (answer.status === 200) {
    status.textContent = item.outcome === "accepted" ? "Accepted: feedback stored" : "Dismissed: feedback stored";
    status.classList.remove("failed");
    card.classList.add("done");
  } else {
    status.textContent = `Feedback refused: HTTP ${answer.status} ${answer.body?.message || ""}`;
    status.classList.add("failed");
  }
}

function cardClicked(event) {
  const card = event.target.closest(".card");
  if (!card) return;
  if (event.target.matches(".suggestion")) {
    event.target.classList.add("accepted");
    sendFeedback(card, { outcome: "accepted", acceptedSuggestions: [{ id: event.target.dataset.suggestion }] });
  } else if (event.target.matches(".dismiss-button")) {
    const option = $(".override-reason", card).selectedOptions[0];
    const item = { outcome: "overridden" };
    if (option && option.value !== "") {
      item.overrideReason = { reason: { code: option.dataset.code, system: option.dataset.system, display: option.dataset.display } };
    }
    sendFeedback(card, item);
  }
}

function fileChosen(event) {
  const file = event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => { $("#bundle").value = reader.result; };
  reader.readAsText(file);
}

function sidebarToggled() {
  $("#cards").classList.toggle("sidebar", $("#sidebar").checked);
  measureCards();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#call-form").addEventListener("submit", run);
  $("#scenario").addEventListener("change", scenarioChosen);
  $("#service").addEventListener("change", showOrderFields);
  for (const radio of document.querySelectorAll("input[name=source]")) radio.addEventListener("change", sourceChosen);
  $("#bundle-file").addEventListener("change", fileChosen);
  $("#sidebar").addEventListener("change", sidebarToggled);
  $("#cards").addEventListener("click", cardClicked);
  sourceChosen();
});
